package virtio

import "sync/atomic"

// Access to memory shared with the device (the rings). Go's sync/atomic
// has no 16-bit operations, and the rings' indexes and flags are 16 bits
// wide, so:
//
//   - load16/store16 are not inlined: each is exactly one load or store
//     of the field's width, and the call is a compiler barrier, so no
//     access to the rings or buffers moves across it;
//   - fence is a locked read-modify-write (a full barrier on amd64),
//     placed where a store must become visible before a later load (the
//     avail index before the notification check, the used event before
//     the used index re-check). Plain x86 stores are not reordered with
//     each other, nor loads with loads, so no other barrier is needed.

var fenceWord atomic.Uint32

func fence() { fenceWord.Add(1) }

//go:noinline
func load16(p *uint16) uint16 { return *p }

//go:noinline
func store16(p *uint16, v uint16) { *p = v }

//go:noinline
func load32(p *uint32) uint32 { return *p }
