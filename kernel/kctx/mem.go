package kctx

import (
	"unsafe"

	"github.com/unigo-os/unigo/rt"
)

// PtrOf returns the address of a kernel object as uintptr.
func PtrOf[T any](p *T) uintptr { return uintptr(unsafe.Pointer(p)) }

// At returns a *T for a kernel address (identity-mapped, outside the Go
// heap).
func At[T any](addr uintptr) *T { return (*T)(rt.Ptr(addr)) }

// BytesAt returns the n bytes at addr as a slice (no copy).
func BytesAt(addr uintptr, n int) []byte {
	return unsafe.Slice((*byte)(rt.Ptr(addr)), n)
}

// CString returns the NUL-terminated string at addr (at most max bytes).
func CString(addr uintptr, max int) []byte {
	b := BytesAt(addr, max)
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// SizeOf is unsafe.Sizeof(*p).
func SizeOf[T any](p *T) uintptr { return unsafe.Sizeof(*p) }

// PtrOfString returns the address of s's bytes.
func PtrOfString(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }

// StringBytes views a string constant's bytes (never written).
func StringBytes(s string) []byte {
	return BytesAt(PtrOfString(s), len(s))
}
