package vmm

import (
	"sync"
	"syscall"

	"github.com/unigo-os/unigo/abi"
)

// hostSignals is the launcher's side of abi.PortHostSignal: signals queued
// for the guest, taken by its kernel one read at a time.
type hostSignals struct {
	mu      sync.Mutex
	armed   bool
	pending []uint32
	raise   func() // pulses abi.IRQHostSignal
	ready   func() // OnReady's callback
	isReady bool
}

// In hands the guest the next pending signal (0: none).
func (h *hostSignals) In(off uint16, data []byte) {
	h.mu.Lock()
	var sig uint32
	if len(h.pending) > 0 {
		sig, h.pending = h.pending[0], h.pending[1:]
	}
	h.mu.Unlock()
	for i := range data {
		data[i] = byte(sig >> (8 * i))
	}
}

// Out records that the guest's kernel delivers host signals, or that the
// guest is ready.
func (h *hostSignals) Out(off uint16, data []byte) {
	if len(data) == 0 {
		return
	}
	h.mu.Lock()
	var ready func()
	switch data[0] {
	case abi.HostSignalArmed:
		h.armed = true
	case abi.HostReady:
		if !h.isReady {
			h.isReady, ready = true, h.ready
		}
	}
	h.mu.Unlock()
	if ready != nil {
		ready()
	}
}

// OnReady sets f to be called once, from a vCPU's goroutine, when the
// guest reports that it is ready (abi.HostReady: its first TCP listener).
// Call it before Run.
func (v *VM) OnReady(f func()) {
	v.hostSig.mu.Lock()
	v.hostSig.ready = f
	v.hostSig.mu.Unlock()
}

// Signal queues sig for the guest program, which sees it as a signal sent
// to its process. It reports false, queuing nothing, when the guest's
// kernel has not armed host signals (an older kernel, or too early in
// the boot); the caller then stops the VM itself.
func (v *VM) Signal(sig syscall.Signal) bool {
	h := &v.hostSig
	h.mu.Lock()
	if !h.armed {
		h.mu.Unlock()
		return false
	}
	h.pending = append(h.pending, uint32(sig))
	h.mu.Unlock()
	h.raise()
	return true
}

// attachHostSignals registers the port; New adds abi.HostSignalParam to
// the command line.
func (v *VM) attachHostSignals() error {
	v.hostSig.raise = func() {
		v.vm.IRQLine(abi.IRQHostSignal, true)
		v.vm.IRQLine(abi.IRQHostSignal, false)
	}
	return v.io.Register(abi.PortHostSignal, 4, &v.hostSig)
}
