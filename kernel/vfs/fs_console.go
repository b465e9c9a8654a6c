package vfs

import (
	"unsafe"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/kernel/vcon"
	"github.com/unigo-os/unigo/rt"
)

// Console input: bytes from the UART's receive interrupt, from the
// launcher's abi.PortConsoleInput, or from QEMU's virtio console
// (kernel/vcon, when the kernel set one up at boot), in a ring guarded by
// SchedLock. The UART's interrupt is enabled on first use (a read or an
// epoll registration); the virtio console's is routed at boot.
var (
	conIn       [65536]byte
	conHead     int
	conTail     int
	conWaiters  task.Waitq
	conIRQReady bool
	// conEOF: the line hung up (MSR DCD clear: the unigo launcher's stdin
	// reached its end) and all input was read: reads return 0.
	conEOF bool
	// conThrottled: the ring filled up and the receive interrupt is off.
	conThrottled bool
)

// ConInPort is set at boot from abi.ConsoleInputParam=1: the launcher
// offers abi.PortConsoleInput, which moves a whole piece of the ring per
// VM exit where RBR costs two exits (LSR, RBR) per byte.
var ConInPort bool

// ConsoleIRQ drains the UART (or the launcher's input port, or the
// virtio console) into the ring. Caller holds SchedLock.
func ConsoleIRQ() {
	got := false
	if platform.HasEarlyInput && (conTail+1)%len(conIn) != conHead {
		platform.HasEarlyInput = false
		conIn[conTail] = platform.EarlyInput
		conTail = (conTail + 1) % len(conIn)
		got = true
	}
	for {
		if (conTail+1)%len(conIn) == conHead {
			// Ring full: leave the rest in the UART (the launcher holds
			// back its stdin) and mask the receive interrupt until a read
			// makes room.
			if !conThrottled {
				conThrottled = true
				if !vcon.Dev.Active {
					rt.Outb(abi.PortCOM1+1, 0x08)
				}
			}
			break
		}
		if vcon.Dev.Active {
			news, more := vconReceive()
			got = got || news
			if !more {
				break
			}
			continue
		}
		if ConInPort {
			news, more := consoleReceive()
			got = got || news
			if !more {
				break
			}
			continue
		}
		if rt.Inb(abi.PortCOM1+5)&1 == 0 {
			break
		}
		conIn[conTail] = rt.Inb(abi.PortCOM1)
		conTail = (conTail + 1) % len(conIn)
		got = true
	}
	if !ConInPort && !vcon.Dev.Active && !got && !conEOF && conHead == conTail && rt.Inb(abi.PortCOM1+6)&0x80 == 0 {
		conEOF = true
		got = true
	}
	if got {
		conWaiters.WakeAll()
		PollNotify(conObj)
	}
}

// conFreeEnd is where the ring's free space that starts at conTail ends:
// its end, or the slot before conHead (one slot stays empty so that a
// full ring differs from an empty one).
func conFreeEnd() int {
	switch {
	case conHead > conTail:
		return conHead - 1
	case conHead == 0:
		return len(conIn) - 1
	}
	return len(conIn)
}

// consoleReceive fills the ring's free space from conTail up to its end
// or to the slot before conHead through abi.PortConsoleInput. news: bytes
// came or the input ended (conEOF set); more: the launcher filled the
// space and may have more. Caller holds SchedLock and has checked that
// the ring has room.
func consoleReceive() (news, more bool) {
	end := conFreeEnd()
	room := end - conTail
	d := abi.ConsoleInput{Addr: uint64(uintptr(unsafe.Pointer(&conIn[conTail]))), Cap: uint64(room)}
	if uintptr(unsafe.Pointer(&d)) >= 1<<32 {
		ConInPort = false // cannot name it in a 32-bit write: use RBR
		return false, true
	}
	rt.OutlAddr(abi.PortConsoleInput, unsafe.Pointer(&d))
	n := int(min(d.Len, uint64(room)))
	conTail = (conTail + n) % len(conIn)
	news = n > 0
	if d.Flags&abi.ConsoleInputEOF != 0 && !conEOF {
		conEOF = true
		news = true
	}
	return news, n == room
}

// vconReceive is consoleReceive for the virtio console: it fills the
// ring's free space from conTail up to its end or to the slot before
// conHead with what the port received. Caller holds SchedLock and has
// checked that the ring has room.
func vconReceive() (news, more bool) {
	end := conFreeEnd()
	room := end - conTail
	d := &vcon.Dev
	n, eof := d.Read(conIn[conTail:end])
	d.Kick()
	if d.FaultNew {
		d.FaultNew = false
		where, why := d.FaultText()
		kctx.Print("unigo: virtio console: ")
		kctx.Print(where)
		kctx.Print(": ")
		kctx.Print(why)
		kctx.Print("; console input ends\n")
	}
	conTail = (conTail + n) % len(conIn)
	news = n > 0
	if eof && !conEOF {
		conEOF = true
		news = true
	}
	return news, n == room
}

// consoleIRQEnableLocked routes the UART interrupt. Caller holds SchedLock.
func consoleIRQEnableLocked() {
	if !conIRQReady {
		conIRQReady = true
		routeIRQHook(abi.IRQCOM1)
		rt.Outb(abi.PortCOM1+1, 0x09) // receive-data and modem-status interrupts
	}
}

func consoleIRQEnable() {
	kctx.SchedLock.Lock()
	consoleIRQEnableLocked()
	ConsoleIRQ() // input may predate the interrupt
	kctx.SchedLock.Unlock()
}

// consoleOps is the row of the console (descriptors 0, 1 and 2, and
// /dev/tty*): read and write whatever the access mode, as a tty opened
// by a shell does.
var consoleOps = FileOps{
	Read:      consoleFileRead,
	Write:     consoleFileWrite,
	Poll:      consoleMask,
	watch:     consoleIRQEnable,
	Fionread:  consoleFionread,
	Mode:      0o20620, // /dev/ttyS0
	Dev:       0x6,
	rdev:      4<<8 | 64,
	anyAccess: true,
}

func consoleFileRead(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	return consoleRead(kctx.BytesAt(buf, int(n)), o.Flags&ONonblock != 0)
}

func consoleFileWrite(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	kctx.ConsoleWriteWhole(kctx.BytesAt(buf, int(n)))
	return int64(n)
}

func consoleFionread(o *OFile) int64 {
	kctx.SchedLock.Lock()
	n := int64((conTail - conHead + len(conIn)) % len(conIn))
	kctx.SchedLock.Unlock()
	return n
}

// consoleMask is the console's epoll readiness. Caller holds SchedLock.
func consoleMask(uintptr) uint32 {
	m := uint32(EpollOut | EpollWrnorm)
	if conHead != conTail || conEOF {
		m |= EpollIn | EpollRdnorm
	}
	return m
}

func consoleRead(b []byte, nonblock bool) int64 {
	if len(b) == 0 {
		return 0
	}
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	consoleIRQEnableLocked()
	for conHead == conTail {
		ConsoleIRQ() // poll once: input may predate the interrupt
		if conHead != conTail {
			break
		}
		if conEOF {
			return 0
		}
		if nonblock {
			return -abi.EAGAIN
		}
		conWaiters.Wait(0)
	}
	n := 0
	for n < len(b) && conHead != conTail {
		b[n] = conIn[conHead]
		conHead = (conHead + 1) % len(conIn)
		n++
	}
	if conThrottled {
		conThrottled = false
		if vcon.Dev.Active {
			ConsoleIRQ() // what the device holds arrives with no interrupt
		} else {
			rt.Outb(abi.PortCOM1+1, 0x09)
		}
	}
	return int64(n)
}

// ioctl requests.
const (
	tcgets     = 0x5401
	tcsets     = 0x5402
	tcsetsw    = 0x5403
	tcsetsf    = 0x5404
	tiocgwinsz = 0x5413
	tiocswinsz = 0x5414
	fionread   = 0x541b
	fionbio    = 0x5421
	fioclex    = 0x5451
	fionclex   = 0x5450
	tiocgpgrp  = 0x540f
	tiocspgrp  = 0x5410
	termiosLen = 36 // kernel struct termios: 4 flag words, c_line, 19 c_cc (no speeds)
)

func doIoctl(fd int, req uint32, arg uintptr) int64 {
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	if r, ok := fsIoctl(f, req, arg); ok {
		Fput(f)
		return r
	}
	r := ioctlFile(f, fd, req, arg)
	Fput(f)
	return r
}

func ioctlFile(f uintptr, fd int, req uint32, arg uintptr) int64 {
	o := Of(f)
	switch req {
	case fionbio:
		if !mm.UserOK(arg, 4, false) {
			return -abi.EFAULT
		}
		FSLock.Lock()
		if *kctx.At[int32](arg) != 0 {
			o.Flags |= ONonblock
		} else {
			o.Flags &^= ONonblock
		}
		FSLock.Unlock()
		return 0
	case fioclex, fionclex:
		FSLock.Lock()
		if fds[fd].File == f {
			fds[fd].cloexec = req == fioclex
		}
		FSLock.Unlock()
		return 0
	case fionread:
		if !mm.UserOK(arg, 4, true) {
			return -abi.EFAULT
		}
		fionread := OpsOf(o.Kind).Fionread
		if fionread == nil {
			return -abi.ENOTTY
		}
		*kctx.At[int32](arg) = int32(fionread(o))
		return 0
	}
	if o.Kind != fdConsole || kctx.ConsoleNotTTY {
		return -abi.ENOTTY
	}
	switch req {
	case tcgets:
		if !mm.UserOK(arg, termiosLen, true) {
			return -abi.EFAULT
		}
		b := kctx.BytesAt(arg, termiosLen)
		clear(b)
		// A serial console in cooked mode: ICRNL|IXON, OPOST|ONLCR,
		// B38400|CS8|CREAD|HUPCL, ISIG|ICANON|ECHO|ECHOE|ECHOK|ECHOCTL|ECHOKE|IEXTEN.
		PutLE32(b[0:], 0x500)
		PutLE32(b[4:], 0x5)
		PutLE32(b[8:], 0xbf)
		PutLE32(b[12:], 0x8a3b)
		// c_line = 0; c_cc: VINTR ^C, VQUIT ^\, VERASE DEL, VKILL ^U,
		// VEOF ^D, VTIME 0, VMIN 1.
		cc := b[17:]
		cc[0], cc[1], cc[2], cc[3], cc[4], cc[5], cc[6] = 3, 0x1c, 0x7f, 0x15, 4, 0, 1
		return 0
	case tcsets, tcsetsw, tcsetsf:
		return 0
	case tiocgwinsz:
		if !mm.UserOK(arg, 8, true) {
			return -abi.EFAULT
		}
		*kctx.At[[4]uint16](arg) = [4]uint16{24, 80, 0, 0}
		return 0
	case tiocswinsz:
		return 0
	case tiocgpgrp:
		if !mm.UserOK(arg, 4, true) {
			return -abi.EFAULT
		}
		*kctx.At[int32](arg) = 1
		return 0
	case tiocspgrp:
		return 0
	}
	return -abi.ENOTTY
}

func PutLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
