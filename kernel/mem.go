package kernel

import (
	"unsafe"

	"github.com/unigo-os/unigo/rt"
)

// ptrOf returns the address of a kernel object as uintptr.
func ptrOf[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

// at returns a *T for a kernel address (identity-mapped, outside the Go
// heap).
func at[T any](addr uintptr) *T { return (*T)(rt.Ptr(addr)) }

// bytesAt returns the n bytes at addr as a slice (no copy).
func bytesAt(addr uintptr, n int) []byte {
	return unsafe.Slice((*byte)(rt.Ptr(addr)), n)
}

// cstring returns the NUL-terminated string at addr (at most max bytes).
func cstring(addr uintptr, max int) []byte {
	b := bytesAt(addr, max)
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

func sizeOf[T any](p *T) uintptr { return unsafe.Sizeof(*p) }
