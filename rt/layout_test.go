package rt_test

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	. "github.com/unigo-os/unigo/rt"

	_ "github.com/unigo-os/unigo/kernel" // provides the hooks rt links against
)

// defines reads the #define NAME VALUE lines of abi_amd64.h.
func defines(t *testing.T) map[string]int64 {
	f, err := os.Open("abi_amd64.h")
	require.NoError(t, err)
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || fs[0] != "#define" {
			continue
		}
		if v, err := strconv.ParseInt(fs[2], 0, 64); err == nil {
			m[fs[1]] = v
		}
	}
	require.NoError(t, sc.Err())
	return m
}

// TestLayout checks that the offsets the assembly uses match the Go
// definitions of CPU and Frame.
func TestLayout(t *testing.T) {
	d := defines(t)
	var c CPU
	cpu := map[string]uintptr{
		"CPU_SELF": unsafe.Offsetof(c.Self), "CPU_KACTIVE": unsafe.Offsetof(c.KActive),
		"CPU_PENDING": unsafe.Offsetof(c.Pending), "CPU_KSTACK": unsafe.Offsetof(c.KStack),
		"CPU_TRAPVEC": unsafe.Offsetof(c.TrapVec), "CPU_TRAPERR": unsafe.Offsetof(c.TrapErr),
		"CPU_TRAPCR2": unsafe.Offsetof(c.TrapCR2), "CPU_CTX_RIP": unsafe.Offsetof(c.CtxRIP),
		"CPU_CTX_CS": unsafe.Offsetof(c.CtxCS), "CPU_CTX_RFLAGS": unsafe.Offsetof(c.CtxRFLAGS),
		"CPU_CTX_RSP": unsafe.Offsetof(c.CtxRSP), "CPU_CTX_SS": unsafe.Offsetof(c.CtxSS),
		"CPU_CTX_RAX": unsafe.Offsetof(c.CtxRAX), "CPU_CTX_RCX": unsafe.Offsetof(c.CtxRCX),
		"CPU_CTX_R11": unsafe.Offsetof(c.CtxR11), "CPU_SCRATCH0": unsafe.Offsetof(c.Scratch),
		"CPU_SCRATCH1": unsafe.Offsetof(c.Scratch) + 8, "CPU_TRAPENTRY": unsafe.Offsetof(c.TrapEntry),
		"CPU_CRASHSTACK": unsafe.Offsetof(c.CrashStack), "CPU_KTLS": unsafe.Offsetof(c.KTLS),
		"CPU_XSAVE": unsafe.Offsetof(c.XSave), "CPU_TRACE": unsafe.Offsetof(c.Trace),
		"CPU_ENTRYRIP": unsafe.Offsetof(c.EntryRIP), "CPU_ENTRYCS": unsafe.Offsetof(c.EntryCS),
		"CPU_ENTRYRFLAGS": unsafe.Offsetof(c.EntryRFLAGS), "CPU_ENTRYSS": unsafe.Offsetof(c.EntrySS),
		"CPU_CRASHRIP": unsafe.Offsetof(c.CrashRIP), "CPU_CRASHCS": unsafe.Offsetof(c.CrashCS),
		"CPU_CRASHRFLAGS": unsafe.Offsetof(c.CrashRFLAGS), "CPU_CRASHSS": unsafe.Offsetof(c.CrashSS),
		"CPU_IST1P": unsafe.Offsetof(c.IST1P), "CPU_ENTRYFRAME": unsafe.Offsetof(c.EntryFrame),
		"CPU_CRASHFRAME": unsafe.Offsetof(c.CrashFrame),
	}
	// The stubs IRETQ through these as frames: RIP, CS, RFLAGS, RSP, SS.
	require.Equal(t, unsafe.Offsetof(c.EntryRIP)+24, unsafe.Offsetof(c.KStack))
	require.Equal(t, unsafe.Offsetof(c.KStack)+8, unsafe.Offsetof(c.EntrySS))
	require.Equal(t, unsafe.Offsetof(c.CrashRIP)+24, unsafe.Offsetof(c.CrashStack))
	require.Equal(t, unsafe.Offsetof(c.CrashStack)+8, unsafe.Offsetof(c.CrashSS))
	// istEntry's record: the stubs' three pushes, then the CPU's frame.
	for i, name := range []string{"R_VEC", "R_CR2", "R_RAX", "R_ERR", "R_RIP", "R_CS", "R_RFLAGS", "R_RSP", "R_SS", "R_SIZE"} {
		require.EqualValues(t, 8*i, d[name], name)
	}
	for name, off := range cpu {
		require.Contains(t, d, name)
		require.EqualValues(t, off, d[name], name)
	}
	var f Frame
	frame := map[string]uintptr{
		"F_R15": unsafe.Offsetof(f.R15), "F_R11": unsafe.Offsetof(f.R11), "F_R8": unsafe.Offsetof(f.R8),
		"F_RBP": unsafe.Offsetof(f.RBP), "F_RDI": unsafe.Offsetof(f.RDI), "F_RCX": unsafe.Offsetof(f.RCX),
		"F_RAX": unsafe.Offsetof(f.RAX), "F_CR2": unsafe.Offsetof(f.CR2), "F_FSBASE": unsafe.Offsetof(f.FSBase),
		"F_VEC": unsafe.Offsetof(f.Vector), "F_ERR": unsafe.Offsetof(f.ErrorCode), "F_RIP": unsafe.Offsetof(f.RIP),
		"F_CS": unsafe.Offsetof(f.CS), "F_RFLAGS": unsafe.Offsetof(f.RFLAGS), "F_RSP": unsafe.Offsetof(f.RSP),
		"F_SS": unsafe.Offsetof(f.SS),
	}
	for name, off := range frame {
		require.EqualValues(t, off, d[name], name)
	}
	require.EqualValues(t, unsafe.Sizeof(f), d["F_SIZE"])
	var r abi.TraceRing
	var e abi.TraceEvent
	trace := map[string]uintptr{
		"TR_NEXT": unsafe.Offsetof(r.Next), "TR_EVENTS": unsafe.Offsetof(r.Events),
		"EV_TSC": unsafe.Offsetof(e.TSC), "EV_RIP": unsafe.Offsetof(e.RIP), "EV_ARG": unsafe.Offsetof(e.Arg),
		"EV_VEC": unsafe.Offsetof(e.Vector), "EV_ERR": unsafe.Offsetof(e.Error),
		"TRACE_EVENTS": abi.TraceEvents, "TRACE_EVENT_SHIFT": 5,
	}
	for name, off := range trace {
		require.Contains(t, d, name)
		require.EqualValues(t, off, d[name], name)
	}
	require.EqualValues(t, 1<<d["TRACE_EVENT_SHIFT"], unsafe.Sizeof(e))
	require.EqualValues(t, VecSyscall, abi.TraceVecSyscall)
	require.EqualValues(t, VecPending, abi.TraceVecPending)
	require.EqualValues(t, FrameSize, unsafe.Sizeof(f))
	require.EqualValues(t, VecSyscall, d["VEC_SYSCALL"])
	require.EqualValues(t, SelUserCode, d["SEL_UCODE"])
	require.EqualValues(t, SelUserData, d["SEL_UDATA"])
	require.EqualValues(t, SelKernelCode, d["SEL_KCODE"])
	require.EqualValues(t, SelTSS, d["SEL_TSS"])
	require.EqualValues(t, abi.SysExitFlush, d["SYS_EXIT_FLUSH"])
}

// TestSyscallEntrySize checks what rt.SyscallLanding assumes: syscallEntry
// (LSTAR) starts on a SyscallEntryMax boundary and every PC within
// SyscallEntryMax of its start belongs to it.
func TestSyscallEntrySize(t *testing.T) {
	entry, cpl3 := SyscallLandingPCs()
	require.Zero(t, entry%SyscallEntryMax, "syscallEntry is not %d-aligned", SyscallEntryMax)
	for pc := entry; pc < entry+SyscallEntryMax; pc++ {
		f := runtime.FuncForPC(pc)
		require.NotNil(t, f)
		require.Equal(t, "github.com/unigo-os/unigo/rt.syscallEntry", f.Name(), "pc %#x", pc)
	}
	assert.True(t, SyscallLanding(entry+SyscallEntryMax-1))
	assert.True(t, SyscallLanding(cpl3))
	assert.False(t, SyscallLanding(cpl3+1))
	assert.False(t, SyscallLanding(entry-1))
}

// The shim's svcCpuidPVM spells out PVM's synthetic CPUID in BYTE
// directives; they must be abi.PVMSyntheticCPUID.
func TestShimSyntheticCPUID(t *testing.T) {
	src, err := os.ReadFile("shim_amd64.s")
	require.NoError(t, err)
	_, body, ok := strings.Cut(string(src), "\nTEXT ·svcCpuidPVM(SB),NOSPLIT|NOFRAME,$0\n")
	require.True(t, ok, "no svcCpuidPVM in shim_amd64.s")
	body, _, _ = strings.Cut(body, "JMP ·svcDone(SB)")
	var got []byte
	for _, f := range strings.Fields(strings.ReplaceAll(body, ";", " ")) {
		if v, ok := strings.CutPrefix(f, "$0x"); ok {
			b, err := strconv.ParseUint(v, 16, 8)
			require.NoError(t, err)
			got = append(got, byte(b))
		}
	}
	assert.Equal(t, abi.PVMSyntheticCPUID[:], got)
}
