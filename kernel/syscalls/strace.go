package syscalls

import (
	"strings"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/kernel/vfs"
	"github.com/unigo-os/unigo/rt"
)

// unigo.strace=1 on the kernel command line prints one line per system
// call on the console, as strace does:
//
//	[tid 3] openat(AT_FDCWD, "/etc/hosts", 0x80000, 0) = -1 ENOENT (No such file or directory)
//
// Arguments are decoded by the kinds the table states (sysEntry.args);
// strings are read from user memory after mm.UserOK, at most straceStrMax
// bytes. A call that does not return (exit, exit_group,
// unigo_exit_flush) is printed before it runs, with "= ?". The line is
// formatted in a buffer on the kernel stack and written under kctx.ConLock,
// so neither lines from several CPUs nor the program's own console
// output mix with them. Off, it costs one predictable branch per system
// call.

// StraceOn is set at boot from the kernel parameter unigo.strace.
var StraceOn bool

const (
	straceLineMax = 320
	straceStrMax  = 96
)

// straceSyscall serves f's system call and prints its line.
func straceSyscall(f *rt.Frame) {
	nr := f.RAX
	args := [6]uint64{f.RDI, f.RSI, f.RDX, f.R10, f.R8, f.R9}
	tid := task.Current().Tid
	if nr == abi.NRExit || nr == abi.NRExitGroup || nr == abi.SysExitFlush {
		straceLine(tid, nr, &args, 0, false)
		f.RAX = uint64(callSyscall(f))
		return
	}
	r := callSyscall(f)
	f.RAX = uint64(r)
	straceLine(tid, nr, &args, r, true)
}

// straceLine formats and prints one line; without done the result is
// "?". Not inlined, so that the line buffer is not on the stack while
// the system call runs.
//
//go:noinline
func straceLine(tid, nr uint64, args *[6]uint64, r int64, done bool) {
	var line straceBuf
	e := sysLookup(nr)
	line.call(tid, nr, e, args)
	if done {
		line.result(e, r)
	} else {
		line.str(" = ?\n")
	}
	line.flush()
}

// StraceParam reports whether the kernel parameter unigo.strace is on
// (present, and not "=0").
func StraceParam() bool {
	_, ok := kctx.KernelParam("unigo.strace", nil)
	return ok && !kctx.ParamIs("unigo.strace", "0")
}

// straceBuf is one line being formatted. Writes past the end are dropped
// (the line then ends in "...").
type straceBuf struct {
	b [straceLineMax]byte
	n int
}

func (l *straceBuf) byte(c byte) {
	if l.n < len(l.b) {
		l.b[l.n] = c
		l.n++
	}
}

func (l *straceBuf) str(s string) {
	for i := 0; i < len(s); i++ {
		l.byte(s[i])
	}
}

func (l *straceBuf) dec(v int64) {
	if v < 0 {
		l.byte('-')
		l.udec(uint64(-v))
		return
	}
	l.udec(uint64(v))
}

func (l *straceBuf) udec(v uint64) {
	var d kctx.Digits
	l.bytes(kctx.FormatUint(&d, v, 10))
}

func (l *straceBuf) hex(v uint64) {
	var d kctx.Digits
	l.str("0x")
	l.bytes(kctx.FormatUint(&d, v, 16))
}

func (l *straceBuf) oct(v uint64) {
	l.byte('0')
	if v == 0 {
		return
	}
	var d kctx.Digits
	l.bytes(kctx.FormatUint(&d, v, 8))
}

func (l *straceBuf) bytes(b []byte) {
	for _, c := range b {
		l.byte(c)
	}
}

func (l *straceBuf) call(tid, nr uint64, e *sysEntry, args *[6]uint64) {
	l.str("[tid ")
	l.udec(tid)
	l.str("] ")
	if e == nil || e.name == "" {
		l.str("syscall_")
		l.hex(nr)
	} else {
		l.str(e.name)
	}
	l.byte('(')
	if e != nil {
		for i := 0; i < len(e.args) && i < len(args) && e.args[i] != '>'; i++ {
			if i > 0 {
				l.str(", ")
			}
			l.arg(e.args[i], args[i])
		}
	}
	l.byte(')')
}

// arg formats one argument of kind k:
//
//	i  int (C int)          l  long            u  unsigned long (sizes)
//	f  file descriptor (AT_FDCWD for -100)     x  hexadecimal (flags)
//	o  octal (modes)        p  pointer (NULL)  s  C string in user memory
func (l *straceBuf) arg(k byte, v uint64) {
	switch k {
	case 'i':
		l.dec(int64(int32(v)))
	case 'l':
		l.dec(int64(v))
	case 'u':
		l.udec(v)
	case 'f':
		if int32(v) == vfs.AtFDCWD {
			l.str("AT_FDCWD")
		} else {
			l.dec(int64(int32(v)))
		}
	case 'o':
		l.oct(v)
	case 'p':
		if v == 0 {
			l.str("NULL")
		} else {
			l.hex(v)
		}
	case 's':
		l.userString(uintptr(v))
	default:
		l.hex(v)
	}
}

// userString formats the NUL-terminated string at addr, quoted and
// escaped, reading at most straceStrMax bytes and only memory mm.UserOK
// accepts (page by page); otherwise the address.
func (l *straceBuf) userString(addr uintptr) {
	if addr == 0 {
		l.str("NULL")
		return
	}
	var s [straceStrMax]byte
	n, done := 0, false
	for n < len(s) && !done {
		chunk := mm.PageSize - (addr+uintptr(n))&(mm.PageSize-1)
		if chunk > uintptr(len(s)-n) {
			chunk = uintptr(len(s) - n)
		}
		if !mm.UserOK(addr+uintptr(n), chunk, false) {
			if n == 0 {
				l.hex(uint64(addr))
				return
			}
			break
		}
		for _, c := range kctx.BytesAt(addr+uintptr(n), int(chunk)) {
			if c == 0 {
				done = true
				break
			}
			s[n] = c
			n++
		}
	}
	l.quote(s[:n], !done)
}

// quote formats s as a C string literal, "..." after it when truncated.
func (l *straceBuf) quote(s []byte, truncated bool) {
	l.byte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			l.byte('\\')
			l.byte(c)
		case c == '\n':
			l.str("\\n")
		case c == '\t':
			l.str("\\t")
		case c < 0x20 || c >= 0x7f:
			l.byte('\\')
			l.byte('0' + c>>6)
			l.byte('0' + c>>3&7)
			l.byte('0' + c&7)
		default:
			l.byte(c)
		}
	}
	l.byte('"')
	if truncated {
		l.str("...")
	}
}

// result formats " = r" (an address for kind ">p", the raw value for
// ">x": a call that returns a restored register, not an errno) or the
// errno, then the newline.
func (l *straceBuf) result(e *sysEntry, r int64) {
	l.str(" = ")
	switch {
	case e != nil && strings.HasSuffix(e.args, ">x"):
		l.hex(uint64(r))
	case r < 0 && r > -4096:
		l.str("-1 ")
		errno := -r
		if errno < int64(len(abi.ErrnoNames)) && abi.ErrnoNames[errno] != "" {
			l.str(abi.ErrnoNames[errno])
			l.str(" (")
			l.str(abi.ErrnoText[errno])
			l.byte(')')
		} else {
			l.str("E")
			l.udec(uint64(errno))
			l.str(" (Unknown error ")
			l.udec(uint64(errno))
			l.byte(')')
		}
	case e != nil && strings.HasSuffix(e.args, ">p"):
		l.hex(uint64(r))
	default:
		l.dec(r)
	}
	l.byte('\n')
}

// finish ends a line cut short at the buffer's end with "...\n".
func (l *straceBuf) finish() {
	if l.n == len(l.b) {
		copy(l.b[l.n-4:], "...\n")
	}
}

// flush writes the line to the console, with its "\n" as "\r\n", in one
// string write under kctx.ConLock.
func (l *straceBuf) flush() {
	l.finish()
	var out [straceLineMax + 1]byte
	n := copy(out[:], l.b[:l.n-1])
	out[n], out[n+1] = '\r', '\n'
	kctx.ConLock.Lock()
	kctx.ConsoleOut(&out[0], n+2)
	kctx.ConLock.Unlock()
}
