package devices

import (
	"io"
	"sync"
	"time"
)

// 8250 register offsets and bits (the subset a polled or interrupt-driven
// console driver uses).
const (
	uartRBR = 0 // read: receive buffer; write: THR; DLAB: divisor low
	uartIER = 1 // DLAB: divisor high
	uartIIR = 2 // read: interrupt identification; write: FCR
	uartLCR = 3
	uartMCR = 4
	uartLSR = 5
	uartMSR = 6
	uartSCR = 7

	lcrDLAB = 0x80

	ierRDA  = 0x01 // received data available
	ierTHRE = 0x02 // transmitter holding register empty
	ierMSI  = 0x08 // modem status change

	iirMSI   = 0x00
	iirNone  = 0x01
	iirTHRE  = 0x02
	iirRDA   = 0x04
	iirFIFOs = 0xC0

	fcrEnable  = 0x01
	fcrClearRX = 0x02

	lsrDR   = 0x01
	lsrTHRE = 0x20
	lsrTEMT = 0x40

	msrCTS = 0x10
	msrDSR = 0x20
	msrDCD = 0x80

	inBufMax = 64 << 10
)

// UARTFIFO is the size of the UART's transmit FIFO, which the launcher
// announces to the guest with abi.UARTFIFOParam: a guest that sees THRE in
// LSR may write this many bytes before it looks again.
const UARTFIFO = 16 << 10

// lsrWait bounds how long a read of LSR that finds the FIFO in use waits
// for it to empty, so that a guest polling LSR for THRE does not spin.
const lsrWait = 2 * time.Millisecond

// UART is the COM1 subset of an 8250 with a transmit FIFO of UARTFIFO
// bytes, which a goroutine hands to an io.Writer: LSR shows THRE while the
// FIFO is empty and TEMT once the writer has also finished, so a guest
// that waits for THRE loses nothing however slowly the writer's reader
// reads. A guest that writes to a full FIFO stalls until there is room (a
// real 8250 would drop the byte), until Release. Received bytes come from
// Feed. It raises its interrupt line, as a level, while a receive-data,
// transmitter-empty or modem-status interrupt enabled in IER is pending.
type UART struct {
	mu  sync.Mutex
	out io.Writer
	// fifo holds the bytes not yet taken by the writer goroutine, which
	// runs while draining is set and swaps fifo with spare.
	fifo, spare []byte
	draining    bool
	// changed is closed and replaced whenever the writer takes the FIFO
	// or finishes, and on Release: waiters watch it.
	changed  chan struct{}
	released bool
	in       []byte
	irq      func(level bool)
	level    bool

	ier, lcr, mcr, scr, fcr, dll, dlm uint8
	threPending                       bool
	// hangup: the host's stdin ended. Once the guest has read all input,
	// MSR shows the carrier lost (DCD clear), with a modem-status
	// interrupt, which the kernel takes as end of file.
	hangup, msrDelta bool
}

// Hangup says that no more input will come (the host's stdin reached EOF).
func (u *UART) Hangup() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.hangup, u.msrDelta = true, true
	u.updateIRQ()
}

// NewUART returns a UART writing to out. irq sets the interrupt line level;
// nil means no interrupts.
func NewUART(out io.Writer, irq func(level bool)) *UART {
	if irq == nil {
		irq = func(bool) {}
	}
	return &UART{out: out, irq: irq, dll: 12, changed: make(chan struct{})} // divisor 12 = 9600 baud
}

// Feed queues bytes for the guest to read. It returns how many it took
// (fewer than len(b) when the guest is not draining the receive buffer).
func (u *UART) Feed(b []byte) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := min(len(b), inBufMax-len(u.in))
	u.in = append(u.in, b[:n]...)
	u.updateIRQ()
	return n
}

// ReadFrom feeds everything r produces until EOF or error, waiting while the
// receive buffer is full. It is meant to run in its own goroutine.
func (u *UART) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 4096)
	var total int64
	for {
		n, err := r.Read(buf)
		for p := buf[:n]; len(p) > 0; {
			k := u.Feed(p)
			p = p[k:]
			total += int64(k)
			if len(p) > 0 {
				time.Sleep(time.Millisecond)
			}
		}
		if err != nil {
			if err == io.EOF {
				u.Hangup()
				return total, nil
			}
			return total, err
		}
	}
}

// Flush waits until the writer has written out everything transmitted.
func (u *UART) Flush() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for len(u.fifo) > 0 || u.draining {
		u.waitLocked(0)
	}
}

// Release stops making guest writes wait for room (the VM is stopping):
// a vCPU stalled on a full FIFO goes on, its bytes queued.
func (u *UART) Release() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.released = true
	u.signalLocked()
}

// signalLocked wakes everyone waiting on changed.
func (u *UART) signalLocked() {
	close(u.changed)
	u.changed = make(chan struct{})
}

// waitLocked releases u.mu until the next change or, if d > 0, for at most
// d.
func (u *UART) waitLocked(d time.Duration) {
	ch := u.changed
	u.mu.Unlock()
	defer u.mu.Lock()
	if d <= 0 {
		<-ch
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// drain is the writer goroutine: it takes the whole FIFO at a time and
// writes it out until the FIFO stays empty.
func (u *UART) drain() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for len(u.fifo) > 0 {
		chunk := u.fifo
		u.fifo, u.spare = u.spare[:0], nil
		u.threPending = true
		u.signalLocked()
		u.updateIRQ()
		u.mu.Unlock()
		u.out.Write(chunk) // a console write error is not the guest's problem
		u.mu.Lock()
		u.spare = chunk[:0]
	}
	u.draining = false
	u.signalLocked()
	u.updateIRQ()
}

func (u *UART) transmit(b byte) {
	for len(u.fifo) >= UARTFIFO && !u.released {
		u.waitLocked(0)
	}
	u.fifo = append(u.fifo, b)
	if !u.draining {
		u.draining = true
		go u.drain()
	}
}

// Transmit sends b as len(b) writes to THR would (abi.PortConsoleString),
// waiting, until Release, for the FIFO to have room for all of it; a b
// longer than the FIFO waits for it to be empty.
func (u *UART) Transmit(b []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for len(u.fifo) > 0 && len(u.fifo)+len(b) > UARTFIFO && !u.released {
		u.waitLocked(0)
	}
	u.threPending = false
	u.fifo = append(u.fifo, b...)
	if len(b) > 0 && !u.draining {
		u.draining = true
		go u.drain()
	}
	u.updateIRQ()
}

// Receive moves up to len(b) received bytes into b, as that many reads of
// RBR would (abi.PortConsoleInput), and returns their number. eof reports
// the line hung up with nothing left to read, as MSR would show it, and
// acknowledges that change like a read of MSR.
func (u *UART) Receive(b []byte) (n int, eof bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.lcr&lcrDLAB == 0 {
		n = copy(b, u.in)
		u.in = u.in[n:]
	}
	if u.hangup && len(u.in) == 0 {
		eof = true
		u.msrDelta = false
	}
	u.updateIRQ()
	return n, eof
}

// thre reports the transmitter holding register (the FIFO) empty.
func (u *UART) thre() bool { return len(u.fifo) == 0 }

func (u *UART) iir() uint8 {
	id := uint8(iirNone)
	switch {
	case u.ier&ierRDA != 0 && len(u.in) > 0:
		id = iirRDA
	case u.ier&ierTHRE != 0 && u.threPending && u.thre():
		id = iirTHRE
	case u.ier&ierMSI != 0 && u.msrDelta && len(u.in) == 0:
		id = iirMSI
	}
	if u.fcr&fcrEnable != 0 {
		id |= iirFIFOs
	}
	return id
}

func (u *UART) updateIRQ() {
	pending := u.iir()&iirNone == 0
	if pending != u.level {
		u.level = pending
		u.irq(pending)
	}
}

// In handles a register read. Only the first byte of wider accesses is a
// register; the rest read as zero.
func (u *UART) In(off uint16, data []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	clear(data)
	if len(data) == 0 {
		return
	}
	var v uint8
	switch off {
	case uartRBR:
		if u.lcr&lcrDLAB != 0 {
			v = u.dll
		} else if len(u.in) > 0 {
			v = u.in[0]
			u.in = u.in[1:]
		}
	case uartIER:
		if u.lcr&lcrDLAB != 0 {
			v = u.dlm
		} else {
			v = u.ier
		}
	case uartIIR:
		v = u.iir()
		if v&0x0F == iirTHRE {
			u.threPending = false // reading IIR acknowledges THRE
		}
	case uartLCR:
		v = u.lcr
	case uartMCR:
		v = u.mcr
	case uartLSR:
		if !u.thre() && !u.released {
			u.waitLocked(lsrWait)
		}
		if u.thre() {
			v |= lsrTHRE
			if !u.draining {
				v |= lsrTEMT
			}
		}
		if len(u.in) > 0 {
			v |= lsrDR
		}
	case uartMSR:
		v = msrDCD | msrDSR | msrCTS
		if u.hangup && len(u.in) == 0 {
			v &^= msrDCD
			u.msrDelta = false // reading MSR acknowledges the change
		}
	case uartSCR:
		v = u.scr
	}
	data[0] = v
	u.updateIRQ()
}

// Out handles a register write.
func (u *UART) Out(off uint16, data []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(data) == 0 {
		return
	}
	v := data[0]
	switch off {
	case uartRBR:
		if u.lcr&lcrDLAB != 0 {
			u.dll = v
		} else {
			u.threPending = false
			u.transmit(v)
		}
	case uartIER:
		if u.lcr&lcrDLAB != 0 {
			u.dlm = v
		} else {
			if v&ierTHRE != 0 && u.ier&ierTHRE == 0 {
				u.threPending = true
			}
			u.ier = v & 0x0F
		}
	case uartIIR:
		u.fcr = v
		if v&fcrClearRX != 0 {
			u.in = nil
		}
	case uartLCR:
		u.lcr = v
	case uartMCR:
		u.mcr = v
	case uartSCR:
		u.scr = v
	}
	u.updateIRQ()
}
