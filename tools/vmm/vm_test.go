package vmm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/arch"
	"github.com/unigo-os/unigo/tools/vmm/kvm"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
	"github.com/unigo-os/unigo/tools/vmm/virtio"
)

func needKVM(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(kvm.DevicePath, os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no usable %s: %v", kvm.DevicePath, err)
	}
	f.Close()
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func boot(t *testing.T, cfg Config) (Result, string) {
	t.Helper()
	needKVM(t)
	var out syncBuf
	cfg.Stdout = &out
	if cfg.MemSize == 0 {
		cfg.MemSize = 16 << 20
	}
	v, err := New(cfg)
	require.NoError(t, err)
	defer v.Close()
	timer := time.AfterFunc(10*time.Second, func() { v.Stop(Result{Reason: Stopped, Code: 124}) })
	defer timer.Stop()
	return v.Run(), out.String()
}

func TestBootHello(t *testing.T) {
	r, out := boot(t, Config{Image: testguest.Image(testguest.Hello())})
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.EqualValues(t, 7, r.Code)
	assert.Equal(t, "hi\n", out)
}

// The guest reads the start_info magic through EBX and exits with it.
func TestBootStartInfo(t *testing.T) {
	code := []byte{0x8B, 0x03} // mov eax, [ebx]
	code = append(code, testguest.ExitWithEAX()...)
	r, _ := boot(t, Config{Image: testguest.Image(code), Env: []string{"A=1"}})
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.EqualValues(t, abi.HVMStartMagic, r.Code)
}

// The guest sees the KVM signature and the timing leaf.
func TestBootCPUID(t *testing.T) {
	cpuid := func(leaf uint32, reg byte) []byte {
		// mov eax, leaf; xor ecx, ecx; cpuid; mov eax, <reg>
		b := []byte{0xB8, byte(leaf), byte(leaf >> 8), byte(leaf >> 16), byte(leaf >> 24), 0x31, 0xC9, 0x0F, 0xA2}
		return append(b, 0x89, 0xC0|reg<<3) // mov eax, reg (reg: 3=EBX)
	}
	r, _ := boot(t, Config{Image: testguest.Image(append(cpuid(0x40000000, 3), testguest.ExitWithEAX()...))})
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.EqualValues(t, 0x4B4D564B, r.Code, "KVMK")

	r, _ = boot(t, Config{Image: testguest.Image(append(cpuid(0x40000010, 3), testguest.ExitWithEAX()...))})
	require.Equal(t, GuestExit, r.Reason)
	assert.EqualValues(t, 1_000_000, r.Code, "LAPIC kHz")

	r, _ = boot(t, Config{Image: testguest.Image(append(cpuid(0x40000010, 0), testguest.ExitWithEAX()...))})
	require.Equal(t, GuestExit, r.Reason)
	assert.Greater(t, r.Code, uint32(100_000), "TSC kHz")
}

func TestBootSMP(t *testing.T) {
	needKVM(t)
	v, err := New(Config{Image: testguest.Image(testguest.Hello()), MemSize: 16 << 20, VCPUs: 3})
	require.NoError(t, err)
	defer v.Close()
	st, err := v.vcpus[1].MPState()
	require.NoError(t, err)
	assert.EqualValues(t, kvm.MPStateUninitialized, st, "APs wait for INIT-SIPI")
	st, err = v.vcpus[0].MPState()
	require.NoError(t, err)
	assert.EqualValues(t, kvm.MPStateRunnable, st)
	r := v.Run()
	require.Equal(t, GuestExit, r.Reason)
	assert.EqualValues(t, 7, r.Code)
}

func TestBootTripleFault(t *testing.T) {
	// xor ecx, ecx; div ecx: #DE with an empty IDT becomes #GP, #DF, shutdown.
	r, _ := boot(t, Config{Image: testguest.Image([]byte{0x31, 0xC9, 0xF7, 0xF1})})
	require.Equal(t, Crash, r.Reason)
	assert.Contains(t, r.Err.Error(), "triple fault", r.Report)
	assert.Contains(t, r.Report, "rip 0x0000000000100002")
	assert.Contains(t, r.Report, "cr0 0x11")
	assert.Contains(t, r.Report, "div %ecx", "disassembly of the faulting code")
	assert.Contains(t, r.Report, "\nkernel events, the last 64 of all CPUs")
}

func TestBootCrashPort(t *testing.T) {
	var rec abi.CrashRecord
	rec.Magic = abi.CrashMagic
	rec.Vector = 14
	rec.CR2 = 0xdead
	rec.RIP = 0x401234
	msg := "page fault in kernel"
	copy(rec.Msg[:], msg)
	rec.MsgLen = uint64(len(msg))
	var data bytes.Buffer
	require.NoError(t, binary.Write(&data, binary.LittleEndian, &rec))
	const recAddr = 0x200000
	code := []byte{0xB8, 0x00, 0x00, 0x20, 0x00} // mov eax, recAddr
	code = append(code, 0x66, 0xBA, abi.PortCrash, 0x00, 0xEF)
	code = append(code, testguest.Exit(3)...)
	img := testguest.Spec{Entry: testguest.LoadAddr, Segments: []testguest.Segment{
		{Paddr: testguest.LoadAddr, Data: code}, {Paddr: recAddr, Data: data.Bytes()}}}.ELF()
	r, _ := boot(t, Config{Image: img})
	require.Equal(t, Crash, r.Reason, "%v", r.Err)
	assert.Contains(t, r.Err.Error(), "guest crashed: page fault (#PF)")
	assert.Contains(t, r.Err.Error(), "accessing 0xdead")
	assert.Contains(t, r.Err.Error(), ": page fault in kernel")
	assert.Contains(t, r.Report, "rip 0x0000000000401234")
	assert.Contains(t, r.Report, "\nkernel events, the last 64 of all CPUs")
	assert.Contains(t, r.Report, "(none: the image has no github.com/unigo-os/unigo/kernel.traceBuf)")
}

func TestStop(t *testing.T) {
	needKVM(t)
	for _, n := range []int{1, 2} {
		v, err := New(Config{Image: testguest.Image(testguest.Hang()), MemSize: 16 << 20, VCPUs: n})
		require.NoError(t, err)
		time.AfterFunc(50*time.Millisecond, func() { v.Stop(Result{Reason: Stopped, Code: 124}) })
		start := time.Now()
		r := v.Run()
		assert.Equal(t, Stopped, r.Reason)
		assert.EqualValues(t, 124, r.Code)
		assert.Less(t, time.Since(start), 5*time.Second)
		require.NoError(t, v.Close())
	}
}

// The guest reads the virtio-mmio magic of device 0 ("virt").
func TestBootVirtio(t *testing.T) {
	needKVM(t)
	code := []byte{0xA1, 0x00, 0x00, 0x00, 0xD0} // mov eax, [0xd0000000]
	code = append(code, testguest.ExitWithEAX()...)
	v, err := New(Config{Image: testguest.Image(code), MemSize: 16 << 20, Env: []string{"X=1"},
		Params: []string{"unigo.debug=1"}, Args: []string{"a b"}, Virtio: []virtio.Device{virtio.NewRNG()}})
	require.NoError(t, err)
	defer v.Close()
	assert.Equal(t, `X=1 unigo.debug=1 unigo.cpus=1 virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 unigo.hostsig=1 unigo.uartfifo=16384 unigo.uartready=1 unigo.constr=1 unigo.conin=1 unigo.conring=1 unigo.tty=0 unigo.prefault=4194304 -- "a b"`, v.Cmdline())
	r := v.Run()
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.EqualValues(t, 0x74726976, r.Code)
}

// Every guest gets the free-page-reporting balloon after its other
// devices, announced on its command line, unless NoBalloon.
func TestBootBalloon(t *testing.T) {
	needKVM(t)
	code := []byte{0xA1, 0x08, 0x10, 0x00, 0xD0} // mov eax, [0xd0001008]: device 1's ID
	code = append(code, testguest.ExitWithEAX()...)
	for _, tc := range []struct {
		noBalloon bool
		want      uint32
		param     bool
	}{{false, abi.VirtioDeviceBalloon, true}, {true, 0, false}} {
		v, err := New(Config{Image: testguest.Image(code), MemSize: 16 << 20, Virtio: []virtio.Device{virtio.NewRNG()}, NoBalloon: tc.noBalloon})
		require.NoError(t, err)
		assert.Equal(t, tc.param, strings.Contains(v.Cmdline(), MMIODeviceParam(1)), "NoBalloon %v: %s", tc.noBalloon, v.Cmdline())
		r := v.Run()
		v.Close()
		require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
		assert.Equal(t, tc.want, r.Code, "NoBalloon %v", tc.noBalloon)
	}
}

func TestUnclaimedMMIOAndPorts(t *testing.T) {
	code := []byte{0xA1, 0x00, 0x00, 0x00, 0xE0}      // mov eax, [0xe0000000] -> 0
	code = append(code, 0x66, 0xBA, 0x80, 0x00, 0xED) // mov dx, 0x80; in eax, dx -> 0xffffffff
	code = append(code, testguest.ExitWithEAX()...)
	r, _ := boot(t, Config{Image: testguest.Image(code)})
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.EqualValues(t, 0xFFFFFFFF, r.Code)
}

func TestNewBadInput(t *testing.T) {
	_, err := New(Config{Image: []byte("nope"), MemSize: 16 << 20})
	assert.True(t, IsBadImage(err))
	_, err = New(Config{Image: testguest.Image(testguest.Hello()), MemSize: 1 << 20})
	assert.ErrorContains(t, err, "too small")
	_, err = New(Config{Image: testguest.Image(testguest.Hello()), MemSize: 16 << 20, VCPUs: 1000})
	assert.ErrorContains(t, err, "-smp 1000")
	big := testguest.Spec{Entry: 0x400000, Segments: []testguest.Segment{{Paddr: 0x400000, Data: []byte{0xF4}, Memsz: 64 << 20}}}.ELF()
	_, err = New(Config{Image: big, MemSize: 16 << 20})
	assert.True(t, IsBadImage(err))
	assert.ErrorContains(t, err, "outside guest RAM")
	_, err = New(Config{Image: testguest.Image(testguest.Hello()), MemSize: 16 << 20, Env: []string{"a.b=1"}})
	assert.ErrorContains(t, err, "guest command line")
	devs := make([]virtio.Device, arch.MMIOMaxDevices)
	for i := range devs {
		devs[i] = virtio.NewRNG()
	}
	_, err = New(Config{Image: testguest.Image(testguest.Hello()), MemSize: 16 << 20, Virtio: devs})
	assert.ErrorContains(t, err, "too many virtio devices (19 and the balloon, max 19 in all)")
	_, err = New(Config{Image: testguest.Image(testguest.Hello()), MemSize: 16 << 20, Virtio: devs, NoBalloon: true, KVMFile: nil, VCPUs: 1000})
	assert.ErrorContains(t, err, "-smp 1000", "19 devices and no balloon fit")
}

// Guest RAM above 4 GiB is mapped lazily: -m 8G boots instantly.
func TestBootLargeMemory(t *testing.T) {
	r, out := boot(t, Config{Image: testguest.Image(testguest.Hello()), MemSize: 8 << 30})
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.Equal(t, "hi\n", out)
}

func TestTranslate(t *testing.T) {
	mem := make([]byte, 8<<20)
	le := binary.LittleEndian
	// PML4 at 0x1000 -> PDPT at 0x2000 -> PD at 0x3000 -> PT at 0x4000.
	le.PutUint64(mem[0x1000:], 0x2000|3)
	le.PutUint64(mem[0x2000:], 0x3000|3)
	le.PutUint64(mem[0x3000:], 0x4000|3)      // 0..2M via PT
	le.PutUint64(mem[0x3008:], 0x600000|0x83) // 2M..4M -> 6M, large page
	le.PutUint64(mem[0x4000+5*8:], 0x7000|3)  // page 5 -> 0x7000
	le.PutUint64(mem[0x4000+6*8:], 0x9000|3)  // page 6 -> 0x9000
	s := kvm.Sregs{CR0: cr0PG | 1, CR4: cr4PAE, EFER: eferLMA | 1<<8, CR3: 0x1000}
	pa, ok := translate(mem, s, 0x5123)
	require.True(t, ok)
	assert.EqualValues(t, 0x7123, pa)
	pa, ok = translate(mem, s, 0x201234)
	require.True(t, ok)
	assert.EqualValues(t, 0x601234, pa)
	_, ok = translate(mem, s, 0x8000)
	assert.False(t, ok, "not present")
	_, ok = translate(mem, s, 1<<39)
	assert.False(t, ok, "no PML4 entry")

	copy(mem[0x7FFE:], "ab")
	copy(mem[0x9000:], "cd")
	b, ok := readVirt(mem, s, 0x5FFE, 4)
	require.True(t, ok)
	assert.Equal(t, "abcd", string(b), "read across a page boundary")

	pa, ok = translate(mem, kvm.Sregs{CR0: 1}, 0x1234)
	require.True(t, ok)
	assert.EqualValues(t, 0x1234, pa, "paging off: identity")
}

// The guest polls LSR for data-ready, reads RBR and exits with the byte.
func TestBootConsoleInput(t *testing.T) {
	code := []byte{
		0x66, 0xBA, 0xFD, 0x03, // mov dx, 0x3fd (LSR)
		0xEC,       // poll: in al, dx
		0xA8, 0x01, // test al, 1
		0x74, 0xFB, // jz poll
		0x66, 0xBA, 0xF8, 0x03, // mov dx, 0x3f8 (RBR)
		0x31, 0xC0, // xor eax, eax
		0xEC, // in al, dx
	}
	code = append(code, testguest.ExitWithEAX()...)
	r, _ := boot(t, Config{Image: testguest.Image(code), Stdin: bytes.NewReader([]byte("Z"))})
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.EqualValues(t, 'Z', r.Code)
}

// The guest programs the in-kernel PIC, enables the UART receive interrupt
// and halts; console input must arrive as IRQ 4 (vector 0x24), whose
// handler reads the byte and exits with it plus 0x100.
func TestBootConsoleIRQ(t *testing.T) {
	const idt, idtr = 0x200000, 0x200800
	code := []byte{0xBC, 0x00, 0x00, 0x30, 0x00}                  // mov esp, 0x300000 (PVH gives no stack)
	code = append(code, 0x0F, 0x01, 0x1D, 0x00, 0x08, 0x20, 0x00) // lidt [idtr]
	for _, w := range [][2]byte{{0x20, 0x11}, {0x21, 0x20}, {0x21, 0x04}, {0x21, 0x01}, {0x21, 0xEF}} {
		code = append(code, 0xB0, w[1], 0xE6, w[0]) // mov al, v; out port, al (PIC ICW1-4, mask all but IRQ4)
	}
	code = append(code, 0x66, 0xBA, 0xF9, 0x03, 0xB0, 0x01, 0xEE) // UART IER = receive data available
	code = append(code, 0xFB, 0xF4, 0xEB, 0xFD)                   // sti; 1: hlt; jmp 1b
	handler := testguest.LoadAddr + len(code)
	code = append(code, 0x66, 0xBA, 0xF8, 0x03, 0xEC) // mov dx, 0x3f8; in al, dx
	code = append(code, 0x0F, 0xB6, 0xC0)             // movzx eax, al
	code = append(code, 0x05, 0x00, 0x01, 0x00, 0x00) // add eax, 0x100
	code = append(code, testguest.ExitWithEAX()...)

	data := make([]byte, 0x806)
	gate := data[0x24*8:]
	binary.LittleEndian.PutUint16(gate[0:], uint16(handler))
	binary.LittleEndian.PutUint16(gate[2:], arch.CodeSelector)
	gate[5] = 0x8E // present, DPL0, 32-bit interrupt gate
	binary.LittleEndian.PutUint16(gate[6:], uint16(handler>>16))
	binary.LittleEndian.PutUint16(data[0x800:], 0x7FF)
	binary.LittleEndian.PutUint32(data[0x802:], idt)
	img := testguest.Spec{Entry: testguest.LoadAddr, Segments: []testguest.Segment{
		{Paddr: testguest.LoadAddr, Data: code}, {Paddr: idt, Data: data}}}.ELF()

	r, _ := boot(t, Config{Image: img, Stdin: bytes.NewReader([]byte("Q"))})
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.EqualValues(t, 0x100+'Q', r.Code)
}

// TestBootABIVersion: a guest whose kernel announces another ABI version,
// or enters the runtime without announcing one, is stopped with one line
// before it can misread any device; the matching version boots.
func TestBootABIVersion(t *testing.T) {
	mark := func(marks ...uint8) []byte {
		var code []byte
		for _, m := range marks {
			code = append(code, testguest.Mark(m)...)
		}
		return testguest.Image(append(code, testguest.Exit(5)...))
	}
	r, _ := boot(t, Config{Image: mark(abi.BootMarkABI|abi.Version, abi.BootMarkRuntime)})
	assert.Equal(t, GuestExit, r.Reason, "%v", r.Err)
	assert.EqualValues(t, 5, r.Code)

	r, _ = boot(t, Config{Image: mark(abi.BootMarkABI|(abi.Version+1), abi.BootMarkRuntime)})
	require.Equal(t, Failed, r.Reason)
	assert.EqualError(t, r.Err, fmt.Sprintf("the image's kernel speaks unigo ABI version %d, this launcher version %d: rebuild the image with this unigo, or run it with the unigo that built it", abi.Version+1, abi.Version))

	r, _ = boot(t, Config{Image: mark(abi.BootMarkEntry, abi.BootMarkRuntime)})
	require.Equal(t, Failed, r.Reason)
	assert.Contains(t, r.Err.Error(), "announced no unigo ABI version")
}

func TestCheckABIMark(t *testing.T) {
	var seen uint8
	require.NoError(t, checkABIMark(abi.BootMarkEntry, &seen))
	require.NoError(t, checkABIMark(abi.BootMarkABI|abi.Version, &seen))
	assert.EqualValues(t, abi.Version, seen)
	require.NoError(t, checkABIMark(abi.BootMarkRuntime, &seen))
	for m := 0; m < 256; m++ {
		seen = 0
		err := checkABIMark(uint8(m), &seen)
		switch {
		case m == abi.BootMarkABI|abi.Version, m < abi.BootMarkABI && m != abi.BootMarkRuntime:
			assert.NoError(t, err, "mark %#x", m)
		default:
			assert.Error(t, err, "mark %#x", m)
		}
	}
}
