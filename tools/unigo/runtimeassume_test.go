package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runtimeAssumption is one detail of the Go runtime (linux/amd64) that the
// kernel or rt depends on, checked in a toolchain's runtime source. The
// list is docs/ARCHITECTURE.md's "What the kernel assumes of the Go
// runtime"; a Go release that changes one of them fails here with why.
type runtimeAssumption struct {
	name  string
	file  string // under GOROOT/src
	match string // regexp that must match the file
	why   string // what in unigo depends on it
}

var runtimeAssumptions = []runtimeAssumption{
	{"TLS g slot at FS:-8", "runtime/sys_linux_amd64.s", `ADDQ\s+\$8,\s+DI\s+// ELF wants to use -8\(FS\)`,
		"entry64 and rt.SwitchStacks point FS at a TLS word whose -8 slot holds g (the fake g of kernel context)"},
	{"exit_group from runtime.exit", "runtime/sys_linux_amd64.s", `TEXT runtime·exit\(SB\)[^\n]*\n\s+MOVL\s+code\+0\(FP\), DI\n\s+MOVL\s+\$SYS_exit_group, AX\n\s+SYSCALL`,
		"kernel/task/exit.go returns from a goroutine's exit_group into rt.exitFlush (rt/exit.go), as if runtime.exit's caller had called it"},
	{"runtime.entersyscall linkname-able", "runtime/proc.go", `//go:linkname entersyscall\nfunc entersyscall\(\)`,
		"rt/exit.go links runtime.entersyscall"},
	{"g0 stack size", "runtime/proc.go", `16384 \* sys\.StackGuardMultiplier`,
		"kernel/task/exit.go's g0StackSize tells exit_group on a system stack from one on a goroutine"},
	{"rt_sigreturn restorer", "runtime/sys_linux_amd64.s", `(?s)#define SYS_rt_sigreturn\s+15\n.*TEXT runtime·sigreturn__sigaction\(SB\)`,
		"kernel/task/signal.go builds Linux's rt_sigframe, returning to the SA_RESTORER trampoline, which makes rt_sigreturn (15; Go 1.27 encodes the MOV differently, which does not matter here)"},
	{"vDSO version LINUX_2.6", "runtime/vdso_linux_amd64.go", `vdsoVersionKey\{"LINUX_2\.6", 0x3ae75f6\}`,
		"kernel/platform/vdso.go's symbol version"},
	{"vDSO __vdso_clock_gettime", "runtime/vdso_linux_amd64.go", `\{"__vdso_clock_gettime", 0xd35ec75, 0x6e43a318,`,
		"kernel/platform/vdso.go exports only __vdso_clock_gettime (ELF and GNU hashes as the runtime looks them up)"},
	{"ucontext layout", "runtime/defs_linux_amd64.go", `type ucontext struct \{\n\s+uc_flags\s+uint64\n\s+uc_link\s+\*ucontext\n\s+uc_stack\s+stackt\n\s+uc_mcontext\s+mcontext\n\s+uc_sigmask\s+usigset`,
		"kernel/task/signal.go writes Linux's ucontext; the runtime's sighandler reads it"},
}

// checkRuntime checks every assumption, and the layout of g's first
// fields, against the runtime source under goroot.
func checkRuntime(t *testing.T, goroot string) {
	for _, a := range runtimeAssumptions {
		src, err := os.ReadFile(filepath.Join(goroot, "src", a.file))
		require.NoError(t, err, a.name)
		if !regexp.MustCompile(a.match).Match(src) {
			t.Errorf("%s: %s no longer has what unigo depends on (%s); see docs/ARCHITECTURE.md, \"What the kernel assumes of the Go runtime\"", a.name, a.file, a.why)
		}
	}
	// The fake g: stack{lo, hi}, stackguard0, stackguard1 at offsets 0, 8,
	// 16 and 24 (rt/boot_amd64.s writes them).
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join(goroot, "src/runtime/runtime2.go"), nil, 0)
	require.NoError(t, err)
	fields := map[string][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || (ts.Name.Name != "g" && ts.Name.Name != "stack") {
			return true
		}
		for _, fl := range ts.Type.(*ast.StructType).Fields.List {
			for _, nm := range fl.Names {
				fields[ts.Name.Name] = append(fields[ts.Name.Name], nm.Name+" "+exprString(fl.Type))
			}
		}
		return false
	})
	require.GreaterOrEqual(t, len(fields["g"]), 3, "runtime.g not found in runtime2.go")
	require.Equal(t, []string{"stack stack", "stackguard0 uintptr", "stackguard1 uintptr"}, fields["g"][:3],
		"runtime.g no longer starts with stack, stackguard0, stackguard1: the kernel's fake g (rt/boot_amd64.s, kernel threads) must change")
	require.Equal(t, []string{"lo uintptr", "hi uintptr"}, fields["stack"],
		"runtime.stack is no longer {lo, hi uintptr}: the kernel's fake g must change")
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	}
	return "?"
}

// TestRuntimeAssumptions checks the runtime details the kernel depends on
// in the current toolchain and in each supported release's (fetched with
// GOTOOLCHAIN, skipped with the reason when that fails).
func TestRuntimeAssumptions(t *testing.T) {
	for _, tc := range []string{"local", "go1.26.0", "go1.27.3"} {
		t.Run(tc, func(t *testing.T) {
			cmd := exec.Command("go", "env", "GOROOT", "GOVERSION")
			if tc != "local" {
				cmd.Env = append(os.Environ(), "GOTOOLCHAIN="+tc)
			}
			// Stdout only: on a machine that has not fetched the toolchain
			// yet, stderr says "go: downloading ...".
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Skipf("cannot get the %s toolchain: %v: %s", tc, err, firstLine(stderr.String(), ""))
			}
			lines := strings.Fields(string(out))
			require.Len(t, lines, 2, "%s", out)
			require.NoError(t, goVersionSupported(lines[1]))
			checkRuntime(t, lines[0])
		})
	}
}
