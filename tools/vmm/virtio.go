package vmm

import (
	"encoding/binary"
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"os"
	"sync"

	"github.com/unigo-os/unigo/tools/vmm/arch"
	"github.com/unigo-os/unigo/tools/vmm/kvm"
	"github.com/unigo-os/unigo/tools/vmm/virtio"
)

// regQueueNotify is the virtio-mmio QueueNotify register.
const regQueueNotify = abi.VirtioMMIOQueueNotify

// virtioSlot is one virtio-mmio device on the bus, with its interrupt
// eventfd (KVM_IRQFD) and one notification eventfd per queue (KVM_IOEVENTFD
// with the queue index as datamatch), so neither interrupts nor queue
// notifications need a vCPU exit to userspace.
type virtioSlot struct {
	dev     virtio.Device
	mmio    *virtio.MMIO
	irqfd   *os.File
	notify  []*os.File
	workers sync.WaitGroup
}

func (v *VM) attachVirtio(i int, dev virtio.Device) error {
	base := arch.MMIOBase + uint64(i)*arch.MMIOSize
	gsi := uint32(arch.MMIOFirstIRQ + i)
	s := &virtioSlot{dev: dev}
	v.virtio = append(v.virtio, s)

	var err error
	if s.irqfd, err = kvm.Eventfd(fmt.Sprintf("virtio%d-irq", i)); err != nil {
		return err
	}
	if err := v.vm.IRQFD(int(s.irqfd.Fd()), gsi); err != nil {
		return err
	}
	one := binary.LittleEndian.AppendUint64(nil, 1)
	irqfd := s.irqfd
	s.mmio = virtio.NewMMIO(dev, v.mem, func() {
		// Each eventfd write is one edge on the GSI. The counter cannot
		// overflow in practice and KVM drains it, so the write never
		// blocks; an error only means the VM is being torn down.
		irqfd.Write(one)
	})
	if err := v.mmio.Register(base, arch.MMIOSize, s.mmio); err != nil {
		return err
	}
	for q := 0; q < dev.NumQueues(); q++ {
		efd, err := kvm.Eventfd(fmt.Sprintf("virtio%d-q%d", i, q))
		if err != nil {
			return err
		}
		s.notify = append(s.notify, efd)
		if err := v.vm.IOEventFDMMIO(int(efd.Fd()), base+regQueueNotify, 4, uint64(q)); err != nil {
			return err
		}
		if v.cfg.PIODoorbell {
			if err := v.vm.IOEventFDPIO(int(efd.Fd()), abi.PortVirtioDoorbell, 2, abi.VirtioDoorbellValue(i, q)); err != nil {
				return err
			}
		}
		s.workers.Add(1)
		go s.forward(efd, uint32(q))
	}
	return nil
}

// forward turns ioeventfd signals for queue q into MMIO.Notify calls until
// the eventfd is closed.
func (s *virtioSlot) forward(efd *os.File, q uint32) {
	defer s.workers.Done()
	buf := make([]byte, 8)
	for {
		if _, err := efd.Read(buf); err != nil {
			return
		}
		s.mmio.Notify(q)
	}
}

// close stops the notification goroutines and the device's workers, so
// guest memory can be unmapped.
func (s *virtioSlot) close() {
	for _, f := range s.notify {
		f.Close()
	}
	s.workers.Wait()
	s.dev.Reset()
	if s.mmio != nil && os.Getenv("UNIGO_VMM_STATS") != "" {
		fmt.Fprintf(os.Stderr, "unigo: virtio device %d: %v; %v\n", s.dev.ID(), &s.mmio.Counts, s.dev)
	}
	if s.irqfd != nil {
		s.irqfd.Close()
	}
}
