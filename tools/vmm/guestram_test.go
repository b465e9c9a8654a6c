package vmm

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/arch"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// smapsOf returns the /proc/self/smaps fields (name: value) of the mapping
// holding addr.
func smapsOf(t *testing.T, addr uintptr) map[string]string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	var fields map[string]string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 && !strings.Contains(line, ": ") {
			if fields != nil {
				break
			}
			if lo <= addr && addr < hi {
				fields = map[string]string{"range": fmt.Sprintf("%#x-%#x", lo, hi)}
			}
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok && fields != nil {
			fields[k] = strings.TrimSpace(v)
		}
	}
	require.NotNil(t, fields, "no mapping holds %#x", addr)
	return fields
}

func thpNever() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err != nil || strings.Contains(string(b), "[never]")
}

// TestMapGuestRAM: guest RAM starts on a 2 MiB boundary, is exactly size
// bytes, is advised MADV_HUGEPAGE only when asked (the kernel then calls
// it eligible for huge pages), and is gone after unmapGuestRAM.
func TestMapGuestRAM(t *testing.T) {
	for _, size := range []uint64{2 << 20, 16 << 20, 64<<20 + 4096} {
		for _, huge := range []bool{false, true} {
			mem, err := mapGuestRAM(size, huge)
			require.NoError(t, err)
			base := uintptr(unsafe.Pointer(&mem[0]))
			assert.Zero(t, base%(2<<20), "size %#x huge %v: base %#x", size, huge, base)
			require.Len(t, mem, int(size))
			mem[0], mem[size-1] = 1, 2
			sm := smapsOf(t, base)
			assert.Equal(t, huge, strings.Contains(" "+sm["VmFlags"]+" ", " hg "), "VmFlags %q", sm["VmFlags"])
			if huge && !thpNever() {
				assert.Equal(t, "1", sm["THPeligible"])
			}
			assert.Equal(t, fmt.Sprintf("%#x-%#x", base, base+uintptr(size)), sm["range"], "one mapping of exactly the guest's RAM")
			unmapGuestRAM(mem)
			assert.ErrorIs(t, unix.Msync(unsafe.Slice((*byte)(unsafe.Pointer(base)), 4096), unix.MS_ASYNC), unix.ENOMEM, "unmapped")
		}
	}
	_, err := mapGuestRAM(0, true)
	assert.Error(t, err)
}

// TestBootHugePages: with HugePages the image is copied into huge-page
// RAM rather than mapped from its file, and the guest runs the same.
func TestBootHugePages(t *testing.T) {
	img := testguest.Image(testguest.Hello())
	path := filepath.Join(t.TempDir(), "img")
	require.NoError(t, os.WriteFile(path, img, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	for _, huge := range []bool{false, true} {
		needKVM(t)
		var out syncBuf
		v, err := New(Config{Image: img, ImageFile: f, HugePages: huge, MemSize: 16 << 20, Stdout: &out})
		require.NoError(t, err)
		base := uintptr(unsafe.Pointer(&v.Memory()[0]))
		assert.Zero(t, base%(2<<20))
		sm := smapsOf(t, base+testguest.LoadAddr)
		gm := v.GuestMemory()
		require.True(t, v.layout.Module())
		assert.Equal(t, base, uintptr(unsafe.Pointer(&gm[0])), "guest memory starts with RAM")
		assert.EqualValues(t, v.layout.ModuleAddr+v.layout.ModuleSize, len(gm), "guest memory ends with the boot module")
		if huge {
			assert.Equal(t, fmt.Sprintf("%#x-%#x", base, base+uintptr(len(v.Memory()))), sm["range"], "nothing mapped over guest RAM")
			assert.Contains(t, " "+sm["VmFlags"]+" ", " hg ")
		}
		r := v.Run()
		require.NoError(t, v.Close())
		require.Equal(t, GuestExit, r.Reason, "huge %v: %v\n%s", huge, r.Err, r.Report)
		assert.EqualValues(t, 7, r.Code)
		assert.Equal(t, "hi\n", out.String())
	}
}

// TestModuleJoinsRAM: the boot module shares RAM's last memory slot when
// it follows that range (RAM below the device hole, or RAM above 4 GiB),
// and has a slot of its own only when it was pushed above the hole.
func TestModuleJoinsRAM(t *testing.T) {
	const mib, gib = 1 << 20, 1 << 30
	for _, tc := range []struct {
		mem, moduleAt uint64
		joins         bool
	}{
		{128 * mib, 128 * mib, true},
		{127 * mib, 128 * mib, true}, // the padding to 2 MiB
		{3 * gib, 4 * gib, false},    // RAM ends at the hole; the module lies above 4 GiB
		{5 * gib, 6 * gib, true},     // RAM continues above 4 GiB
	} {
		v := &VM{cfg: Config{MemSize: tc.mem}, layout: &arch.Layout{ModuleAddr: tc.moduleAt, ModuleSize: 5 * mib}}
		assert.Equal(t, tc.joins, v.moduleJoinsRAM(), "-m %#x, module at %#x", tc.mem, tc.moduleAt)
	}
	v := &VM{cfg: Config{MemSize: 128 * mib}, layout: &arch.Layout{}}
	assert.False(t, v.moduleJoinsRAM(), "no module")
}

// TestPrefault: New backs the RAM between the boot area and the image
// with host pages before the guest runs (arch.Prefault), and offers its
// release (abi.PrefaultParam); the part from the frame the guest writes to
// abi.PortPrefaultDone on is given back, the rest kept; nothing outside
// the range is touched.
func TestPrefault(t *testing.T) {
	const mib = 1 << 20
	needKVM(t)
	code := testguest.Out32(abi.PortPrefaultDone, (2*mib+mib/2)>>12)
	code = append(code, testguest.Out32(abi.PortPrefaultDone, 8*mib>>12)...) // beyond the range: nothing
	code = append(code, testguest.Hello()...)
	img := testguest.Spec{Segments: []testguest.Segment{{Paddr: 4 * mib, Data: code}}, Entry: 4 * mib}.ELF()
	var out syncBuf
	v, err := New(Config{Image: img, MemSize: 16 * mib, Stdout: &out})
	require.NoError(t, err)
	defer v.Close()
	assert.Contains(t, v.Cmdline(), abi.PrefaultParam+"=4194304")
	assert.Equal(t, 768, residentPages(t, v, mib, 4*mib), "the RAM below the image is backed")
	assert.Zero(t, residentPages(t, v, 5*mib, 8*mib), "nothing beyond it")
	r := v.Run()
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.EqualValues(t, 7, r.Code)
	assert.Equal(t, "hi\n", out.String())
	assert.Equal(t, 384, residentPages(t, v, mib, 2*mib+mib/2), "what the guest used is kept")
	assert.Zero(t, residentPages(t, v, 2*mib+mib/2, 4*mib), "the rest is given back")
}

// residentPages counts the pages of guest RAM [lo, hi) present in the
// launcher's page tables: bit 63 of each /proc/self/pagemap entry.
func residentPages(t *testing.T, v *VM, lo, hi uint64) (n int) {
	for _, e := range pagemap(t, v, lo, hi) {
		n += int(e >> 63)
	}
	return n
}

// pagemap returns the /proc/self/pagemap entries of the pages of guest
// memory [lo, hi).
func pagemap(t *testing.T, v *VM, lo, hi uint64) []uint64 {
	f, err := os.Open("/proc/self/pagemap")
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, (hi-lo)/4096*8)
	base := uint64(uintptr(unsafe.Pointer(&v.Memory()[0])))
	_, err = f.ReadAt(buf, int64((base+lo)/4096*8))
	require.NoError(t, err)
	e := make([]uint64, len(buf)/8)
	for i := range e {
		e[i] = binary.LittleEndian.Uint64(buf[8*i:])
	}
	return e
}
