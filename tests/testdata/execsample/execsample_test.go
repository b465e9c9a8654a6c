package execsample_test

import (
	"os"
	"strings"
	"testing"

	"github.com/unigo-os/unigo/rt"
	"github.com/unigo-os/unigo/tests/testdata/execsample"
)

func TestDouble(t *testing.T) {
	if got := execsample.Double(21); got != 42 {
		t.Fatalf("Double(21) = %d", got)
	}
	t.Logf("booted=%v args=%s", rt.Booted(), strings.Join(os.Args[1:], " "))
}

func TestFailing(t *testing.T) {
	t.Fatal("this test fails on purpose")
}

func BenchmarkDouble(b *testing.B) {
	for b.Loop() {
		_ = execsample.Double(b.N)
	}
}
