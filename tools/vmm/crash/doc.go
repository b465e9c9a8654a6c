// Package crash turns the state of a dead unigo guest into a report a
// developer can act on: the reason (exception name, faulting address), the
// registers, the faulting instruction and its neighbours disassembled with
// golang.org/x/arch/x86/x86asm, and a backtrace built by walking the Go frame
// pointer chain, each frame symbolized as function (file:line) from the
// image's .gopclntab (debug/gosym) or, failing that, its ELF symbol table.
//
// The launcher calls it when the guest writes the address of an
// abi.CrashRecord to abi.PortCrash, and for the dump of a wedged guest
// (Context for each vCPU, ParseTrace and WriteTrace for the kernel's
// trace ring, abi.TraceBuffer). Everything it reads is untrusted: the
// record, the guest memory behind the reader and even the image file. Bad
// values shorten the report, they never panic or loop.
package crash
