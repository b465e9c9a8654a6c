package vmm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// textImage is a guest whose read-only segment at 4 MiB is 2 MiB and 8
// pages, followed by a writable one of 2 pages of data and then
// dataHeadZeroed and 16 pages of BSS: it writes one byte into page
// 2 of the segment's 2 MiB block and one into page 2 after the block (as
// the kernel rewrites system-call sites), ends the boot at
// abi.PortPrefaultDone and then runs tail. It returns the image written
// to a file, and the bytes the segment should then hold.
func textImage(t *testing.T, tail []byte) (img []byte, f *os.File, text []byte) {
	const mib, page = 1 << 20, 4096
	const base, w1, w2 = 4 * mib, 4*mib + 2*page + 100, 6*mib + 2*page + 200
	var code []byte
	for _, a := range []uint32{w1, w2} { // mov byte [a], 0xab (32-bit code, flat)
		code = binary.LittleEndian.AppendUint32(append(code, 0xc6, 0x05), a)
		code = append(code, 0xab)
	}
	code = append(code, testguest.Out32(abi.PortPrefaultDone, 8*mib>>12)...) // no RAM to give back
	code = append(code, tail...)
	text = bytes.Repeat([]byte{0x5a}, 2*mib+8*page)
	copy(text, code)
	img = testguest.Spec{
		Segments: []testguest.Segment{
			{Paddr: base, Data: text},
			{Paddr: base + uint64(len(text)), Data: bytes.Repeat([]byte{0x33}, 2*page), Memsz: 2*page + dataHeadZeroed + 16*page, Writable: true},
		},
		Entry:       base,
		PageAligned: true,
	}.ELF()
	path := filepath.Join(t.TempDir(), "img")
	require.NoError(t, os.WriteFile(path, img, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	text = append([]byte{}, text...)
	text[w1-base], text[w2-base] = 0xab, 0xab
	return img, f, text
}

// TestPrefaultText: on a shadow-paging host the launcher copies the image's
// read-only pages before the guest runs, its 2 MiB text block into
// anonymous memory and the rest over the file mapping, populates its data
// and the head of its BSS, tells the guest its text blocks are huge, and
// at abi.PortPrefaultDone gives back every copy of the text still equal
// to the file, keeping the pages the guest wrote, and keeps the data.
func TestPrefaultText(t *testing.T) {
	const mib, page = 1 << 20, 4096
	needKVM(t)
	defer func(f func() bool, d time.Duration) { shadowPaging, textReleaseDelay = f, d }(shadowPaging, textReleaseDelay)
	shadowPaging, textReleaseDelay = func() bool { return true }, 0
	img, f, want := textImage(t, testguest.Hello())
	const text, data = 4 * mib, 6*mib + 8*page

	var out syncBuf
	v, err := New(Config{Image: img, ImageFile: f, MemSize: 16 * mib, Stdout: &out})
	require.NoError(t, err)
	defer v.Close()
	assert.Contains(t, v.Cmdline(), abi.HugeImageParam+"=1")
	require.Len(t, v.layout.FileText, 2, "the block, and the pages after it")
	assert.True(t, v.layout.FileText[0].Copied)
	assert.False(t, v.layout.FileText[1].Copied)
	assert.Equal(t, 512+8, anonPages(t, v, text, data), "the text is copied")
	const bss, bssEnd = data + 2*page, data + 2*page + dataHeadZeroed + 16*page
	assert.Equal(t, 2, anonPages(t, v, data, bss), "the data is populated")
	assert.Equal(t, dataHeadZeroed/page, anonPages(t, v, bss, bssEnd), "and the head of the BSS")
	assert.True(t, bytes.Equal(bytes.Repeat([]byte{0x33}, 2*page), v.Memory()[data:bss]), "the data reads as the file's")

	r := v.Run()
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.EqualValues(t, 7, r.Code)
	assert.Equal(t, "hi\n", out.String())
	assert.True(t, bytes.Equal(want, v.Memory()[text:data]), "the text reads as the guest left it")
	assert.Equal(t, 2, anonPages(t, v, text, data), "only the written pages stay copies")
	assert.Equal(t, 2+dataHeadZeroed/page, anonPages(t, v, data, bssEnd), "the data stays populated")
	assert.Zero(t, hugeKiB(t, v, text, data), "no huge page stays mapped in part")
}

// hugeKiB sums AnonHugePages over the launcher's mappings that meet guest
// memory [lo, hi) (/proc/self/smaps).
func hugeKiB(t *testing.T, v *VM, lo, hi uint64) (kib int) {
	b, err := os.ReadFile("/proc/self/smaps")
	require.NoError(t, err)
	base := uint64(uintptr(unsafe.Pointer(&v.Memory()[0])))
	meets := false
	for _, line := range strings.Split(string(b), "\n") {
		var start, end uint64
		if n, _ := fmt.Sscanf(line, "%x-%x ", &start, &end); n == 2 {
			meets = start < base+hi && end > base+lo
			continue
		}
		var k int
		if n, _ := fmt.Sscanf(line, "AnonHugePages: %d kB", &k); n == 1 && meets {
			kib += k
		}
	}
	return kib
}

// TestPrefaultTextLater: the copies go back textReleaseDelay after the
// first idle, on another thread, while the guest runs.
func TestPrefaultTextLater(t *testing.T) {
	const mib, page = 1 << 20, 4096
	needKVM(t)
	defer func(f func() bool, d time.Duration) { shadowPaging, textReleaseDelay = f, d }(shadowPaging, textReleaseDelay)
	shadowPaging, textReleaseDelay = func() bool { return true }, 50*time.Millisecond
	img, f, want := textImage(t, testguest.Hang())
	const text, data = 4 * mib, 6*mib + 8*page

	v, err := New(Config{Image: img, ImageFile: f, MemSize: 16 * mib})
	require.NoError(t, err)
	defer v.Close()
	done := make(chan Result, 1)
	go func() { done <- v.Run() }()
	assert.Eventually(t, func() bool { return anonPages(t, v, text, data) == 2 }, 10*time.Second, 10*time.Millisecond,
		"the copies are given back while the guest runs")
	assert.True(t, bytes.Equal(want, v.Memory()[text:data]))
	v.Stop(Result{Reason: Stopped})
	assert.Equal(t, Stopped, (<-done).Reason)
}

// TestHostShadowPaging decides from the loaded KVM modules' parameters.
func TestHostShadowPaging(t *testing.T) {
	for _, tc := range []struct {
		files map[string]string
		want  bool
	}{
		{map[string]string{"kvm_pvm/refcnt": "1"}, true},
		{map[string]string{"kvm_intel/parameters/ept": "Y\n"}, false},
		{map[string]string{"kvm_intel/parameters/ept": "N\n"}, true},
		{map[string]string{"kvm_amd/parameters/npt": "1\n"}, false},
		{map[string]string{"kvm_amd/parameters/npt": "0\n"}, true},
		{map[string]string{"kvm/parameters/x": "1"}, false},
		{nil, false},
	} {
		dir := t.TempDir()
		for name, content := range tc.files {
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
		}
		assert.Equal(t, tc.want, hostShadowPaging(dir), "%v", tc.files)
	}
}

// anonPages counts the pages of guest memory [lo, hi) that are present
// and the launcher's own (not the page cache's): /proc/self/pagemap bit
// 63 set, bit 61 (file page or shared) clear.
func anonPages(t *testing.T, v *VM, lo, hi uint64) (n int) {
	for _, e := range pagemap(t, v, lo, hi) {
		if e>>63 == 1 && e>>61&1 == 0 {
			n++
		}
	}
	return n
}
