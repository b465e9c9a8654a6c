package vcon

import (
	"testing"
)

// FuzzDevice plays a hostile device: control messages of any content and
// length, receive-queue data, and raw used entries and indexes on any
// queue, between guest reads of any size. The driver must not panic, must
// never claim more bytes than asked, and must keep its view of the
// current buffer inside that buffer.
func FuzzDevice(f *testing.F) {
	f.Add([]byte{0, 8, 1, 0, 0, 0, 1, 0, 1, 0, 1, 4, 'h', 'i', '!', '\n', 3, 64, 0, 8, 1, 0, 0, 0, 6, 0, 0, 0, 3, 2})
	f.Add([]byte{0, 8, 0, 0, 0, 0, 1, 0, 1, 0, 0, 8, 0, 0, 0, 0, 4, 0, 1, 0, 1, 0, 2, 'a', 'b', 3, 1, 3, 1, 3, 1})
	f.Add([]byte{2, 3, 9, 0, 0, 0, 1, 0, 0, 0, 3, 8})
	f.Add([]byte{2, 1, 0, 0, 0, 0, 0, 0x20, 0, 0, 3, 8, 4, 1, 200, 3, 8})
	f.Fuzz(func(t *testing.T, script []byte) {
		c, s := newSim()
		qis := [nQueues]int{iRx0, iCtlRx, iCtlTx, iRx1}
		next := func() byte {
			if len(script) == 0 {
				return 0
			}
			b := script[0]
			script = script[1:]
			return b
		}
		for len(script) > 0 {
			switch next() % 6 {
			case 0: // a control message of n bytes
				n := int(next())
				m := make([]byte, min(n, len(script)))
				copy(m, script)
				script = script[len(m):]
				s.recv(iCtlRx, m)
			case 1: // data on a receive queue
				qi := []int{iRx0, iRx1}[next()%2]
				n := int(next())
				m := make([]byte, min(n, len(script)))
				copy(m, script)
				script = script[len(m):]
				s.recv(qi, m)
			case 2: // a raw used entry
				qi := qis[next()%nQueues]
				id := uint32(next())
				n := uint32(next()) | uint32(next())<<8 | uint32(next())<<16 | uint32(next())<<24
				s.put(qi, id, n)
			case 3: // a guest read
				buf := make([]byte, int(next()))
				n, _ := c.Read(buf)
				if n > len(buf) {
					t.Fatalf("read %d bytes into %d", n, len(buf))
				}
				c.Kick()
			case 4: // a raw used index
				qi := qis[next()%nQueues]
				s.used[qi] += uint16(next())
				*u16(c.qs[qi].used + 2) = s.used[qi]
			case 5: // the device answers what the driver sent
				s.sent()
			}
			if c.cur && (c.curLen > RxBufSize || c.curOff > c.curLen || c.curID >= QueueSize) {
				t.Fatalf("current buffer out of bounds: id %d off %d len %d", c.curID, c.curOff, c.curLen)
			}
		}
	})
}
