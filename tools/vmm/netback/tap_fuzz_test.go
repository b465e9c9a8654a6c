package netback

import (
	"testing"
)

// FuzzTAPFrames writes what a guest controls (the vnet header and the
// frame, as the device passes them) to a real TAP interface with every
// offload on: the write fails or succeeds, never panics or hangs. The
// interface stays down, so nothing leaves the host. Needs CAP_NET_ADMIN.
func FuzzTAPFrames(f *testing.F) {
	tap, _ := tempTAP(f, "ugfz")
	if err := tap.SetOffloads(true, true, true, true); err != nil {
		f.Fatal(err)
	}
	frame := make([]byte, tapVnetHdrSize+60)
	frame[tapVnetHdrSize+12] = 0x08
	f.Add(frame)
	bad := append([]byte(nil), frame...)
	bad[0], bad[6] = 1, 200 // NEEDS_CSUM past the frame
	f.Add(bad)
	gso := append([]byte(nil), frame...)
	gso[1], gso[2], gso[4] = 1, 54, 100 // TCPv4 GSO, hdr_len 54, gso_size 100
	f.Add(gso)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) < tapVnetHdrSize+14 || len(pkt) > tapVnetHdrSize+65535 {
			return // the device passes no such frame
		}
		tap.WriteFrame(pkt)
	})
}
