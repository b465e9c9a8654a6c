package vmm

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// TestPrefaultText: on a shadow-paging host the launcher copies the pages
// of the image's read-only segments mapped from its file before the guest
// runs, leaves its writable segments mapped, and at abi.PortPrefaultDone
// gives back every copy still equal to the file, keeping the page the
// guest wrote (as the kernel rewrites system-call sites).
func TestPrefaultText(t *testing.T) {
	const mib, page = 1 << 20, 4096
	needKVM(t)
	defer func(f func() bool) { shadowPaging = f }(shadowPaging)
	shadowPaging = func() bool { return true }

	const text, data = 4 * mib, 4*mib + 8*page
	const written = text + 2*page + 100
	// mov byte [written], 0xab (32-bit code, flat).
	code := binary.LittleEndian.AppendUint32([]byte{0xc6, 0x05}, written)
	code = append(code, 0xab)
	code = append(code, testguest.Out32(abi.PortPrefaultDone, 8*mib>>12)...) // no RAM to give back
	code = append(code, testguest.Hello()...)
	textBuf := bytes.Repeat([]byte{0x5a}, 8*page)
	copy(textBuf, code)
	img := testguest.Spec{
		Segments: []testguest.Segment{
			{Paddr: text, Data: textBuf},
			{Paddr: data, Data: bytes.Repeat([]byte{0x33}, 2*page), Writable: true},
		},
		Entry:       text,
		PageAligned: true,
	}.ELF()
	path := filepath.Join(t.TempDir(), "img")
	require.NoError(t, os.WriteFile(path, img, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()

	var out syncBuf
	v, err := New(Config{Image: img, ImageFile: f, MemSize: 16 * mib, Stdout: &out})
	require.NoError(t, err)
	defer v.Close()
	require.Len(t, v.layout.FileText, 1, "the text segment's pages are mapped from the file")
	assert.Equal(t, 8, anonPages(t, v, text, data), "the text is copied")
	assert.Zero(t, anonPages(t, v, data, data+2*page), "the data segment is not")

	r := v.Run()
	require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
	assert.EqualValues(t, 7, r.Code)
	assert.Equal(t, "hi\n", out.String())
	mem := v.Memory()
	assert.Equal(t, byte(0xab), mem[written], "the guest's write is kept")
	want := append([]byte{}, textBuf...)
	want[written-text] = 0xab
	assert.True(t, bytes.Equal(want, mem[text:data]), "the text reads as before")
	assert.Equal(t, 1, anonPages(t, v, text, data), "only the written page stays a copy")
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
