package rt

import "unsafe"

// booted is set by bootMain when the image was started through the PVH
// entry. In a Linux process it stays false and the kernel does nothing.
var booted bool

// Booted reports whether this program was booted as a unikernel (true) or
// started as a Linux process (false).
func Booted() bool { return booted }

func init() {
	// Keep pvhEntry linked: nothing else refers to it; the image writer
	// finds it by name and points the PVH note at it.
	if pvhEntryAddr() == 0 {
		panic("rt: pvhEntry missing")
	}
}

func pvhEntryAddr() uintptr
func pvhEntry()
func entry64()

// TextStart is the address where the image's text begins (the linker's
// runtime.text). The ELF header lies in the page or pages just below it,
// and the kernel finds it from there without touching the pages of text in
// between (each first touch a shadow-paging fault on PVM hosts).
func TextStart() uintptr { return textStart() }

func textStart() uintptr

// kernelMain is implemented by package kernel (pushed here with
// go:linkname, since rt cannot import kernel). It takes over the boot with
// the physical address of the PVH start_info and never returns.
func kernelMain(startInfo uintptr)

// kernelTrap is implemented by package kernel: it handles the event in
// the frame (system call, exception, interrupt) and returns with the frame
// to resume at the top of the current kernel stack.
func kernelTrap(f *Frame)

// kernelThreadStart is implemented by package kernel: it runs on a new
// thread's kernel stack before the thread first returns to user mode.
func kernelThreadStart()

// bootMain is entered from entry64 at CPL 3 on the boot stack, in kernel
// context.
//
//go:nosplit
func bootMain(startInfo uint64) {
	fillExceptionGates() // before anything can fault
	booted = true
	kernelMain(uintptr(startInfo))
}

// Ptr turns a kernel address into an unsafe.Pointer. Kernel memory is
// identity-mapped and outside the Go heap, so the conversion is sound; the
// helper exists so that such conversions are greppable.
//
//go:nosplit
func Ptr(addr uintptr) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(nil), addr)
}
