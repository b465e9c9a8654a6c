package vcon

import (
	"unsafe"

	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/vmmio"
)

// Control events (virtio 1.x, "Console Device", multiport).
const (
	EvDeviceReady = 0
	EvPortAdd     = 1
	EvPortRemove  = 2
	EvPortReady   = 3
	EvConsolePort = 4
	EvResize      = 5
	EvPortOpen    = 6
	EvPortName    = 7
)

// Queue numbers: port 0's receive and transmit queues, the control
// queues, then two per further port (port 1's receive queue is 4).
const (
	QRx0    = 0
	QCtlRx  = 2
	QCtlTx  = 3
	QRx1    = 4
	nQueues = 4 // the queues this driver sets up: QRx0, QCtlRx, QCtlTx, QRx1
)

// Buffer sizes. A control message is 8 bytes (id, event, value); PORT_NAME
// carries a name after it, which the driver does not need.
const (
	RxBufSize  = 4096
	CtlBufSize = 64
	ctlMsgSize = 8
)

// Console is the driver's state and memory. The kernel has one (Dev);
// tests make their own.
type Console struct {
	regs   vmmio.Regs // the MMIO window (0: no transport, as in host tests)
	Active bool       // set up: the console's input comes from here
	GSI    uint32     // its interrupt line

	qs [nQueues]queue // QRx0, QCtlRx, QCtlTx, port 1's receive queue
	// kicks: bit i set when queue qs[i] has new entries to notify.
	kicks uint32

	port   int32 // the adopted port (0 or 1), -1 before PORT_ADD
	closed bool  // the host closed the adopted port (or removed it)
	broken bool
	// fault and faultQ say why and on which queue (index into qs) the
	// device was given up; FaultNew is set until the kernel reported it
	// (FaultText).
	fault, faultQ uint8
	FaultNew      bool

	// The receive buffer being consumed: its queue (index into qs),
	// descriptor, read offset and length.
	cur            bool
	curQ, curID    uint16
	curOff, curLen uint32
	mem            [nQueues][queueMemWords]uint64
	rxBufs         [2][QueueSize][RxBufSize]byte
	ctlRxBufs      [QueueSize][CtlBufSize]byte
	ctlTxBufs      [QueueSize][ctlMsgSize]byte
}

// Dev is the kernel's virtio console.
var Dev Console

// queueNum maps an index into qs to the device's queue number.
var queueNum = [nQueues]uint32{QRx0, QCtlRx, QCtlTx, QRx1}

const (
	iRx0, iCtlRx, iCtlTx, iRx1 = 0, 1, 2, 3
)

// reset lays out the queues over c's memory and posts every receive
// buffer. The transport then tells the device where they are.
func (c *Console) reset() {
	c.port, c.closed, c.broken, c.cur, c.kicks = -1, false, false, false, 0
	c.fault, c.faultQ, c.FaultNew = faultNone, 0, false
	c.qs[iRx0].init(addr(&c.mem[iRx0][0]), addr(&c.rxBufs[0][0][0]), RxBufSize, true)
	c.qs[iRx1].init(addr(&c.mem[iRx1][0]), addr(&c.rxBufs[1][0][0]), RxBufSize, true)
	c.qs[iCtlRx].init(addr(&c.mem[iCtlRx][0]), addr(&c.ctlRxBufs[0][0]), CtlBufSize, true)
	c.qs[iCtlTx].init(addr(&c.mem[iCtlTx][0]), addr(&c.ctlTxBufs[0][0]), ctlMsgSize, false)
	for _, qi := range [3]int{iRx0, iRx1, iCtlRx} {
		q := &c.qs[qi]
		for i := uint16(0); i < QueueSize; i++ {
			q.post(i, q.bufLen)
		}
		c.kicks |= 1 << qi
	}
}

func addr[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

// fail gives the device up.
func (c *Console) fail(qi int, fault uint8) {
	if !c.broken {
		c.broken, c.faultQ, c.fault, c.FaultNew = true, uint8(qi), fault, true
	}
}

var queueName = [nQueues]string{"port 0 receive queue", "control receive queue", "control transmit queue", "port 1 receive queue"}

// FaultText says on which queue and why the device was given up.
func (c *Console) FaultText() (where, why string) {
	if c.fault == faultNone || int(c.fault) >= len(faultText) || int(c.faultQ) >= nQueues {
		return "", ""
	}
	return queueName[c.faultQ], faultText[c.fault]
}

// send queues a control message to the device.
func (c *Console) send(id uint32, event, value uint16) {
	q := &c.qs[iCtlTx]
	for {
		_, _, ok, fault := q.pop()
		if fault != faultNone {
			c.fail(iCtlTx, fault)
			return
		}
		if !ok {
			break
		}
	}
	i, ok := q.free()
	if !ok {
		c.fail(iCtlTx, faultFull)
		return
	}
	b := kctx.At[[ctlMsgSize]byte](q.buf(i))
	b[0], b[1], b[2], b[3] = byte(id), byte(id>>8), byte(id>>16), byte(id>>24)
	b[4], b[5], b[6], b[7] = byte(event), byte(event>>8), byte(value), byte(value>>8)
	q.post(i, ctlMsgSize)
	c.kicks |= 1 << iCtlTx
}

// DeviceReady is the driver's first control message, once the device runs.
func (c *Console) DeviceReady() { c.send(0, EvDeviceReady, 1) }

// control handles one message from the device.
func (c *Console) control(m []byte) {
	if len(m) < ctlMsgSize {
		return // malformed: ignored
	}
	id := uint32(m[0]) | uint32(m[1])<<8 | uint32(m[2])<<16 | uint32(m[3])<<24
	event := uint16(m[4]) | uint16(m[5])<<8
	value := uint16(m[6]) | uint16(m[7])<<8
	ours := c.port >= 0 && id == uint32(c.port)
	switch event {
	case EvPortAdd:
		if ours {
			return // announced twice
		}
		if c.port < 0 && id <= 1 {
			c.port = int32(id)
			c.send(id, EvPortReady, 1)
			c.send(id, EvPortOpen, 1) // the guest side is open: QEMU may read the chardev
		}
		// Other ports get no answer: the device keeps them unready. So
		// the driver sends three messages in all, never more than the
		// control transmit queue holds.
	case EvPortRemove:
		if ours {
			c.closed = true
		}
	case EvPortOpen:
		if ours && value == 0 {
			c.closed = true
		}
	}
}

// Read moves received input into dst: it handles the control messages,
// then copies what the adopted port received, reposting each buffer once
// consumed. eof: the port was closed (or the device broke) and all it had
// received was read. Call Kick afterwards to notify the device.
func (c *Console) Read(dst []byte) (n int, eof bool) {
	if c.broken {
		return 0, true
	}
	// Control first: data received before a close is in the receive
	// queue's used ring before the close is in the control queue's.
	q := &c.qs[iCtlRx]
	for !c.broken {
		id, got, ok, fault := q.pop()
		if fault != faultNone {
			c.fail(iCtlRx, fault)
			break
		}
		if !ok {
			break
		}
		c.control(kctx.BytesAt(q.buf(id), int(got)))
		q.post(id, q.bufLen)
		c.kicks |= 1 << iCtlRx
	}
	for !c.broken {
		if !c.cur && !c.next() {
			break
		}
		if !c.cur {
			continue
		}
		rq := &c.qs[c.curQ]
		k := copy(dst[n:], kctx.BytesAt(rq.buf(c.curID)+uintptr(c.curOff), int(c.curLen-c.curOff)))
		n += k
		c.curOff += uint32(k)
		if c.curOff == c.curLen {
			c.cur = false
			rq.post(c.curID, rq.bufLen)
			c.kicks |= 1 << c.curQ
		}
		if n == len(dst) {
			break
		}
	}
	if c.broken {
		return n, n == 0
	}
	return n, n == 0 && c.closed && !c.cur && !c.pending()
}

// next takes the next used receive buffer of the adopted port into cur
// (or reposts one of another port, whose input is dropped). It reports
// whether it took anything.
func (c *Console) next() bool {
	for _, qi := range [2]uint16{iRx0, iRx1} {
		q := &c.qs[qi]
		id, got, ok, fault := q.pop()
		if fault != faultNone {
			c.fail(int(qi), fault)
			return false
		}
		if !ok {
			continue
		}
		if (qi == iRx0) != (c.port == 0) || got == 0 {
			q.post(id, q.bufLen)
			c.kicks |= 1 << qi
			return true
		}
		c.cur, c.curQ, c.curID, c.curOff, c.curLen = true, qi, id, 0, got
		return true
	}
	return false
}

// pending reports whether a receive queue has used entries not yet taken.
func (c *Console) pending() bool {
	for _, qi := range [2]int{iRx0, iRx1} {
		q := &c.qs[qi]
		if uint16(*kctx.At[uint32](q.used)>>16) != q.lastUsed {
			return true
		}
	}
	return false
}

// Pending reports whether Read has input or an end of input to give
// without waiting for the device.
func (c *Console) Pending() bool {
	return c.cur || c.pending()
}
