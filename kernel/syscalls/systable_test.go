package syscalls

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"

	_ "github.com/unigo-os/unigo/kernel/internal/linkstub" // rt's entry points
)

//go:generate env UNIGO_UPDATE_SYSCALLS_DOC=1 go test -run ^TestSyscallDoc$ .

// zsysnum reads the SYS_NAME = N constants of a zsysnum_linux_amd64.go.
func zsysnum(t *testing.T, path string) map[string]uint64 {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	nums := map[string]uint64{}
	for _, line := range strings.Split(string(data), "\n") {
		var name string
		var nr uint64
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "SYS_%s = %d", &name, &nr); err == nil {
			nums[strings.ToLower(name)] = nr
		}
	}
	require.NotEmpty(t, nums, path)
	return nums
}

func xsysDir(t *testing.T) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	require.NoError(t, err, "go list golang.org/x/sys")
	return strings.TrimSpace(string(out))
}

// TestSyscallNumbers checks every Linux amd64 system call number that the
// Go runtime's syscall package and golang.org/x/sys/unix name against the
// table: the row exists, carries Linux's name, and states its support.
func TestSyscallNumbers(t *testing.T) {
	for _, src := range []string{
		filepath.Join(runtime.GOROOT(), "src", "syscall", "zsysnum_linux_amd64.go"),
		filepath.Join(xsysDir(t), "unix", "zsysnum_linux_amd64.go"),
	} {
		for name, nr := range zsysnum(t, src) {
			require.Less(t, nr, uint64(abi.NSyscalls), "%s (%d) is beyond the table (%s)", name, nr, src)
			assert.Equal(t, name, sysTable[nr].name, "system call %d (%s)", nr, src)
		}
	}
}

// TestSyscallTable checks each row is consistent: a handler exactly when
// the call is served, a note for partial support, an errno for refused
// calls, argument kinds strace knows.
func TestSyscallTable(t *testing.T) {
	check := func(where string, e *sysEntry) {
		switch e.status {
		case sysFull, sysPartial:
			assert.NotNil(t, e.fn, "%s: served without a handler", where)
		case sysUnsupported:
			assert.Nil(t, e.fn, "%s", where)
			assert.NotZero(t, e.errno, "%s: refused without an errno", where)
		case sysMissing:
			assert.Nil(t, e.fn, "%s: a handler but no status", where)
		default:
			t.Errorf("%s: bad status %d", where, e.status)
		}
		if e.status == sysPartial {
			assert.NotEmpty(t, e.note, "%s: partial support needs a note", where)
		}
		args, ret, _ := strings.Cut(e.args, ">")
		assert.LessOrEqual(t, len(args), 6, "%s", where)
		for _, k := range args {
			assert.Contains(t, "iluf xops", string(k), "%s: argument kind %q", where, k)
		}
		assert.Contains(t, []string{"", "p", "x"}, ret, "%s: result kind", where)
	}
	for nr := range sysTable {
		e := &sysTable[nr]
		if e.name == "" {
			assert.Equal(t, sysMissing, e.status, "unnamed row %d", nr)
			continue
		}
		check(fmt.Sprintf("%d %s", nr, e.name), e)
	}
	for i := range privTable {
		if e := &privTable[i]; e.name != "" {
			check(e.name, e)
		}
	}
	// Served numbers and private calls map where they should.
	for _, nr := range []uint64{0x1000, 0x1006, 0x1100, 0x1106, 0x1200, 0x1300, 0x1303} {
		e := sysLookup(nr)
		require.NotNil(t, e, "%#x", nr)
		assert.NotNil(t, e.fn, "%#x %s", nr, e.name)
	}
	for _, nr := range []uint64{abi.NSyscalls, 0x1010, 0x1304, 0x1400, 0xfff, 1 << 40} {
		if e := sysLookup(nr); e != nil {
			assert.Nil(t, e.fn, "%#x", nr)
		}
	}
	assert.Equal(t, "openat", sysName(abi.NROpenat))
	assert.Equal(t, "unigo_net_rx", sysName(abi.SysNetRx))
	assert.Equal(t, "unknown", sysName(1<<20))
}

var initFunc = regexp.MustCompile(`/kernel/syscalls\.init(\.\d+)? STEXT`)

// TestSyscallTableStatic checks the compiler emits the tables as static
// data: the first system calls come before package initialisation, so no
// init code may write them.
func TestSyscallTableStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles this package; skipped with -short")
	}
	cmd := exec.Command("go", "build", "-gcflags=-S", ".")
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	inInit, found := false, false
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && line[0] != '\t' && line[0] != ' ' { // a symbol's header
			inInit = initFunc.MatchString(line)
			found = found || inInit
			continue
		}
		if inInit {
			for _, v := range []string{"syscalls.sysTable", "syscalls.privTable", "syscalls.statsNames"} {
				assert.NotContains(t, line, v, "package initialisation writes %s", v)
			}
		}
	}
	require.True(t, found, "no syscalls.init in the compiler's listing")
}

// TestSyscallDoc checks docs/SYSCALLS.md is what the table says
// (UNIGO_UPDATE_SYSCALLS_DOC=1, or go generate, rewrites it).
func TestSyscallDoc(t *testing.T) {
	want := syscallDoc()
	path := filepath.Join("..", "..", "docs", "SYSCALLS.md")
	if os.Getenv("UNIGO_UPDATE_SYSCALLS_DOC") == "1" {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, string(got), "docs/SYSCALLS.md is stale: run go generate ./kernel/syscalls")
}

func syscallDoc() string {
	var b strings.Builder
	count := map[sysStatus]int{}
	for _, e := range sysTable {
		if e.name != "" {
			count[e.status]++
		}
	}
	b.WriteString("<!-- Code generated by go generate ./kernel/syscalls (TestSyscallDoc) from kernel/syscalls/systable.go; DO NOT EDIT. -->\n\n")
	b.WriteString("# System calls\n\n")
	b.WriteString("The Linux amd64 system calls the unigo kernel serves, from its system-call\n")
	b.WriteString("table (`kernel/syscalls/systable.go`). `unigo.strace=1` on the kernel command\n")
	b.WriteString("line shows which ones a program makes.\n\n")
	fmt.Fprintf(&b, "%d served in full, %d partially, %d refused on purpose, %d not implemented.\n\n",
		count[sysFull], count[sysPartial], count[sysUnsupported], count[sysMissing])
	b.WriteString("- **full**: as Linux serves it.\n")
	b.WriteString("- **partial**: served, within the limits the note states.\n")
	b.WriteString("- **refused**: fails with the errno shown, quietly; the Go runtime and standard library cope.\n")
	b.WriteString("- **not implemented**: fails with ENOSYS, and the first call of each is reported on the console.\n\n")
	b.WriteString("| Number | Name | Support | Notes |\n|---:|---|---|---|\n")
	for nr, e := range sysTable {
		switch e.status {
		case sysFull:
			fmt.Fprintf(&b, "| %d | %s | full | %s |\n", nr, e.name, e.note)
		case sysPartial:
			fmt.Fprintf(&b, "| %d | %s | partial | %s |\n", nr, e.name, e.note)
		case sysUnsupported:
			fmt.Fprintf(&b, "| %d | %s | refused: %s | %s |\n", nr, e.name, abi.ErrnoNames[e.errno], e.note)
		}
	}
	b.WriteString("\n## Not implemented (ENOSYS)\n\n")
	var missing []string
	for nr, e := range sysTable {
		if e.name != "" && e.status == sysMissing {
			missing = append(missing, fmt.Sprintf("%s (%d)", e.name, nr))
		}
	}
	b.WriteString(strings.Join(missing, ", ") + ".\n")
	b.WriteString("\n## unigo's private system calls\n\n")
	b.WriteString("Drivers, the netstack and the file servers reach the kernel through these (a\n")
	b.WriteString("Linux kernel answers them with ENOSYS): `abi/devices.go`, `abi/netchan.go`,\n")
	b.WriteString("`abi/calls.go`, `abi/fschan.go`.\n\n")
	b.WriteString("| Number | Name |\n|---:|---|\n")
	var priv []string
	for nr := uint64(privFirst); nr < privFirst+0x400; nr++ {
		if e := sysLookup(nr); e != nil && e.name != "" {
			priv = append(priv, fmt.Sprintf("| %#x | %s |\n", nr, e.name))
		}
	}
	sort.Strings(priv)
	b.WriteString(strings.Join(priv, ""))
	return b.String()
}

// handlerName matches the handlers rows may name: SysX in the package
// that owns the call, or a trampoline to a handler of the top package.
var handlerName = regexp.MustCompile(`^github\.com/unigo-os/unigo/kernel/((task|vm|vfs|socket)\.Sys[A-Z]\w*|syscalls\.upper[A-Z]\w*)$`)

// TestHandlerNaming checks the naming rule of package syscalls' doc: every
// row names SysX in its owning package.
func TestHandlerNaming(t *testing.T) {
	check := func(e *sysEntry) {
		if e.fn == nil {
			return
		}
		name := runtime.FuncForPC(reflect.ValueOf(e.fn).Pointer()).Name()
		assert.Regexp(t, handlerName, name, "%s", e.name)
	}
	for i := range sysTable {
		check(&sysTable[i])
	}
	for i := range privTable {
		check(&privTable[i])
	}
	assert.Contains(t, runtime.FuncForPC(reflect.ValueOf(sysTable[abi.NROpenat].fn).Pointer()).Name(), "kernel/vfs.SysOpenat")
}
