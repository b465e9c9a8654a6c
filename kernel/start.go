package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/syscalls"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// Auxiliary vector keys.
const (
	atNull        = 0
	atPhdr        = 3
	atPhent       = 4
	atPhnum       = 5
	atPagesz      = 6
	atEntry       = 9
	atUID         = 11
	atEUID        = 12
	atGID         = 13
	atEGID        = 14
	atPlatform    = 15
	atHwcap       = 16
	atClktck      = 17
	atSecure      = 23
	atRandom      = 25
	atExecfn      = 31
	atSysinfoEhdr = 33 // the vDSO (kernel/platform/vdso.go)
)

// startInit creates the first thread, whose user context is the Go
// runtime's entry point with a Linux initial stack built from the command
// line, and switches to it. It does not return.
func startInit() {
	t := task.NewThread()
	if t == 0 {
		kctx.Panic("out of memory creating the first thread")
	}
	mm.VMLock.Lock()
	mm.SetRange(mm.StackTop-mm.StackSize, mm.StackTop, mm.ProtRead|mm.ProtWrite)
	mm.VMLock.Unlock()
	sp := buildStack()
	// The runtime's m0 runs on the initial stack as its g0 stack.
	task.Th(t).SysStackLo, task.Th(t).SysStackHi = mm.StackTop-mm.StackSize, mm.StackTop

	f := kctx.At[rt.Frame](task.FrameOf(t))
	*f = rt.Frame{}
	f.RIP = uint64(mm.ImageEntry)
	f.RSP = uint64(sp)
	f.CS = rt.SelUserCode
	f.SS = rt.SelUserData
	f.RFLAGS = 0x202
	f.Vector = rt.VecSyscall // nothing extended to restore
	c := task.CPU()
	c.Current = t
	c.KStack = task.Th(t).KStack + task.KStackSize
	c.KTLS = task.KTLSOf(t)
	c.XSave = task.Th(t).Xsave
	task.Th(t).State = task.ThreadRunning
	task.Th(t).OnCPU = platform.Nanotime()
	// Boot mark for the launcher's timing: the kernel hands over to the
	// runtime. Port output is allowed at CPL 3 (TSS I/O bitmap).
	rt.Outb(abi.PortBootMark, abi.BootMarkRuntime)
	// Switch FS to the thread's kernel TLS before leaving the boot stack.
	rt.EnterFrame(task.FrameOf(t))
}

// stackWriter fills the initial stack downwards.
type stackWriter struct{ sp uintptr }

func (w *stackWriter) bytes(b []byte) uintptr {
	w.sp -= uintptr(len(b)) + 1
	copy(kctx.BytesAt(w.sp, len(b)), b)
	*kctx.At[byte](w.sp + uintptr(len(b))) = 0
	return w.sp
}

// str is bytes for a string. (Go 1.26's compiler fails with
// "disjointTypes: one of arguments is not a pointer" when a copy of a constant this long is inlined.)
//
//go:noinline
func (w *stackWriter) str(s string) uintptr {
	w.sp -= uintptr(len(s)) + 1
	copy(kctx.BytesAt(w.sp, len(s)), s)
	*kctx.At[byte](w.sp + uintptr(len(s))) = 0
	return w.sp
}

// The environment a program gets when the command line sets no PATH or
// HOME.
const (
	defaultPath = "PATH=/usr/local/bin:/usr/bin:/bin"
	defaultHome = "HOME=/"
)

// buildStack lays out argc, argv, envp and auxv as Linux does, from the
// command line (see parseCmdline), and returns the initial stack pointer.
func buildStack() uintptr {
	top := uintptr(mm.StackTop)
	if !mm.UserOK(top-64<<10, 64<<10, true) {
		kctx.Panic("cannot map the initial stack")
	}
	w := stackWriter{sp: top - 16}
	var argv [256]uintptr
	var envp [258]uintptr // 255 from the command line, PATH, HOME, nil
	argc, envc := 0, 0
	hasPath, hasHome := false, false
	argv[argc] = w.bytes([]byte("/init"))
	argc++
	// Tokens: KEY=VAL (env), key.with.dot=VAL (kernel parameter), then
	// "--" and program arguments.
	var tok [4096]byte
	pos := 0
	afterDashes := false
	for {
		n, ok, err := kctx.NextToken(kctx.Cmdline[:kctx.CmdlineLen], &pos, tok[:])
		if err != "" {
			kctx.Print("unigo: bad command line: ")
			kctx.Print(err)
			kctx.Print("\n")
			syscalls.ExitVM(125)
		}
		if !ok {
			break
		}
		s := tok[:n]
		if afterDashes {
			if argc < len(argv)-1 {
				argv[argc] = w.bytes(s)
				argc++
			}
			continue
		}
		if n == 2 && s[0] == '-' && s[1] == '-' {
			afterDashes = true
			continue
		}
		eq := kctx.IndexByte(s, '=')
		if eq <= 0 {
			kctx.Print("unigo: bad command line: ")
			kctx.ConsoleWrite(s)
			kctx.Print(": want KEY=VALUE, or -- before program arguments\n")
			syscalls.ExitVM(125)
		}
		if kctx.IndexByte(s[:eq], '.') >= 0 {
			if kctx.HasPrefix(s, "unigo.argv0=") {
				argv[0] = w.bytes(s[eq+1:])
			}
			continue // kernel parameter
		}
		if envc < len(envp)-3 {
			envp[envc] = w.bytes(s)
			envc++
			hasPath = hasPath || kctx.HasPrefix(s, "PATH=")
			hasHome = hasHome || kctx.HasPrefix(s, "HOME=")
		}
	}
	// Linux's init gets HOME=/ from the kernel and a PATH from whoever
	// starts it; without them os.UserHomeDir and exec.LookPath fail. The
	// command line (-e) overrides both.
	if !hasPath {
		envp[envc] = w.str(defaultPath)
		envc++
	}
	if !hasHome {
		envp[envc] = w.str(defaultHome)
		envc++
	}
	plat := w.bytes([]byte("x86_64"))
	w.sp -= 16
	w.sp &^= 15
	random := w.sp
	task.FillRandom(kctx.BytesAt(random, 16))

	aux := [...]uintptr{
		atPhdr, mm.ImagePhdr, atPhent, 56, atPhnum, mm.ImagePhnum,
		atPagesz, mm.PageSize, atEntry, mm.ImageEntry,
		atUID, 0, atEUID, 0, atGID, 0, atEGID, 0,
		atPlatform, plat, atHwcap, hwcap(), atClktck, 100,
		atSecure, 0, atRandom, random, atExecfn, argv[0],
		atSysinfoEhdr, platform.VDSOInit(),
		atNull, 0,
	}
	words := 1 + argc + 1 + envc + 1 + len(aux)
	w.sp -= uintptr(words) * 8
	w.sp &^= 15
	sp := w.sp
	p := sp
	put := func(v uintptr) {
		*kctx.At[uintptr](p) = v
		p += 8
	}
	put(uintptr(argc))
	for i := 0; i < argc; i++ {
		put(argv[i])
	}
	put(0)
	for i := 0; i < envc; i++ {
		put(envp[i])
	}
	put(0)
	for _, v := range aux {
		put(v)
	}
	return sp
}

func hwcap() uintptr {
	_, _, _, d := rt.CpuidNative(1, 0)
	return uintptr(d)
}
