package virtio

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/hugelgupf/p9/p9"
	"github.com/unigo-os/unigo/tools/vmm/hostfs"
)

// FuzzP9Request hands the virtio-9p device arbitrary chains: a T-message
// split over two readable segments and a writable part of any size. The
// device must never panic, must pass the server at most one message that
// lies within the chain, with the counts it asks for lowered to the
// writable room, and must never write more than that room; the server
// (over an empty host directory) answers what it can decode.
func FuzzP9Request(f *testing.F) {
	f.Add(tversion(0xffff, 1<<30), uint8(3), uint16(64))
	f.Add(tversion(1, 8192), uint8(0), uint16(11))
	f.Add(tmsg(250, 7), uint8(7), uint16(64))
	read := binary.LittleEndian.AppendUint32(nil, 1)
	read = binary.LittleEndian.AppendUint64(read, 0)
	read = binary.LittleEndian.AppendUint32(read, 1<<30)
	f.Add(tmsg(p9Tread, 3, read...), uint8(9), uint16(40))
	f.Add(tmsg(p9Treaddir, 3, read...), uint8(1), uint16(100))
	attach := binary.LittleEndian.AppendUint32(nil, 1)
	attach = binary.LittleEndian.AppendUint32(attach, ^uint32(0))
	attach = append(attach, 0, 0, 0, 0)
	attach = binary.LittleEndian.AppendUint32(attach, 0)
	f.Add(tmsg(104, 2, attach...), uint8(5), uint16(64))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 100, 0, 0}, uint8(2), uint16(64))
	tree, err := hostfs.New(f.TempDir(), false)
	if err != nil {
		f.Fatal(err)
	}
	srv := p9.NewServer(tree)
	f.Fuzz(func(t *testing.T, msg []byte, split uint8, wlen uint16) {
		s := min(int(split), len(msg))
		w := int(wlen) % 2048
		ch := &Chain{Segs: []Segment{
			{Data: append([]byte(nil), msg[:s]...)},
			{Data: append([]byte(nil), msg[s:]...)},
			{Data: make([]byte, w/2), Writable: true},
			{Data: make([]byte, w-w/2), Writable: true},
		}}
		c := newP9Conn()
		defer c.shut()
		d := &P9{}
		inflight := map[uint16]*Chain{}
		if !d.request(ch, c, inflight) {
			if len(c.reqs) != 0 || len(inflight) != 0 {
				t.Fatal("refused chain reached the server")
			}
			return
		}
		m := <-c.reqs
		if len(m) > len(msg) || len(m) < p9Header || len(m) > p9MaxMessage ||
			binary.LittleEndian.Uint32(m) != uint32(len(m)) || len(inflight) != 1 {
			t.Fatalf("message of %d bytes from a chain of %d", len(m), len(msg))
		}
		if (m[4] == p9Tread || m[4] == p9Treaddir) && len(m) >= p9Header+16 &&
			binary.LittleEndian.Uint32(m[p9Header+12:]) > uint32(w-p9Header-4) {
			t.Fatalf("count %d for %d writable bytes", binary.LittleEndian.Uint32(m[p9Header+12:]), w)
		}
		go srv.Handle(c, c)
		c.reqs <- m
		select {
		case r := <-c.resps:
			if n := p9Reply(ch, r); n > uint32(w) {
				t.Fatalf("wrote %d bytes into %d", n, w)
			}
		case <-time.After(100 * time.Millisecond):
			// Undecodable messages get no matching answer.
		}
	})
}
