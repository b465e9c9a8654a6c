package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

func writeImage(t *testing.T, code []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "guest.img")
	require.NoError(t, os.WriteFile(p, testguest.Image(code), 0o644))
	return p
}

func kvmOK(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no usable /dev/kvm: %v", err)
	}
	f.Close()
}

func runInProcess(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runLauncher(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}
