package sample

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestGreeting(t *testing.T) {
	if Greeting() != "hello, unikernel" {
		t.Fatalf("Greeting() = %q", Greeting())
	}
}

// TestTestdata reads testdata through the working directory and through
// the source file's own path, as tests do.
func TestTestdata(t *testing.T) {
	b, err := os.ReadFile("testdata/greeting.txt")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "data from testdata\n" {
		t.Fatalf("testdata/greeting.txt = %q", b)
	}
	_, file, _, _ := runtime.Caller(0)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if wd != filepath.Dir(file) {
		t.Fatalf("working directory %s, want %s", wd, filepath.Dir(file))
	}
	t.Logf("guest=%v wd=%s", runtime.GOOS == "linux" && strings.HasPrefix(os.Args[0], "/init"), wd)
}

func TestShort(t *testing.T) {
	if !testing.Short() {
		t.Skip("runs only with -short")
	}
	t.Log("short mode")
}

func TestFailing(t *testing.T) {
	t.Log("about to fail")
	t.Fatal("this test fails on purpose")
}

// TestHang never returns; run with a short -timeout.
func TestHang(t *testing.T) {
	select {}
}
