package vcon

import (
	"encoding/binary"
	"unsafe"

	_ "github.com/unigo-os/unigo/kernel/internal/linkstub" // rt's entry points
)

// sim plays the device against a Console's queues in host memory.
type sim struct {
	c     *Console
	avail [nQueues]uint16 // next available entry the device takes
	used  [nQueues]uint16 // next used entry the device writes
}

func newSim() (*Console, *sim) {
	c := new(Console)
	c.reset()
	c.Active = true
	c.DeviceReady()
	return c, &sim{c: c}
}

func u16(a uintptr) *uint16 { return (*uint16)(unsafe.Pointer(a)) }
func u32(a uintptr) *uint32 { return (*uint32)(unsafe.Pointer(a)) }
func u64(a uintptr) *uint64 { return (*uint64)(unsafe.Pointer(a)) }

// take returns the next buffer the driver made available on qi.
func (s *sim) take(qi int) (id uint16, buf []byte, ok bool) {
	q := &s.c.qs[qi]
	if *u16(q.avail + 2) == s.avail[qi] {
		return 0, nil, false
	}
	id = *u16(q.avail + 4 + 2*uintptr(s.avail[qi]%QueueSize))
	s.avail[qi]++
	d := q.desc + uintptr(id)*16
	return id, unsafe.Slice((*byte)(unsafe.Pointer(uintptr(*u64(d)))), *u32(d + 8)), true
}

// put writes a used entry (id, n) on qi, whatever they are.
func (s *sim) put(qi int, id, n uint32) {
	q := &s.c.qs[qi]
	e := q.used + 4 + 8*uintptr(s.used[qi]%QueueSize)
	*u32(e), *u32(e + 4) = id, n
	s.used[qi]++
	*u16(q.used + 2) = s.used[qi]
}

// recv delivers data into the next available buffer of qi.
func (s *sim) recv(qi int, data []byte) bool {
	id, buf, ok := s.take(qi)
	if !ok {
		return false
	}
	n := copy(buf, data)
	s.put(qi, uint32(id), uint32(n))
	return true
}

func (s *sim) ctl(id uint32, event, value uint16) bool {
	var m [8]byte
	binary.LittleEndian.PutUint32(m[:], id)
	binary.LittleEndian.PutUint16(m[4:], event)
	binary.LittleEndian.PutUint16(m[6:], value)
	return s.recv(iCtlRx, m[:])
}

type ctlMsg struct {
	id           uint32
	event, value uint16
}

// sent collects the control messages the driver sent.
func (s *sim) sent() []ctlMsg {
	var out []ctlMsg
	for {
		id, buf, ok := s.take(iCtlTx)
		if !ok {
			return out
		}
		out = append(out, ctlMsg{binary.LittleEndian.Uint32(buf), binary.LittleEndian.Uint16(buf[4:]), binary.LittleEndian.Uint16(buf[6:])})
		s.put(iCtlTx, uint32(id), 0)
	}
}
