package sample_test

import (
	"os"
	"testing"

	"github.com/unigo-os/unigo/tests/testdata/sample"
)

func TestExternal(t *testing.T) {
	if _, err := os.Stat("testdata/greeting.txt"); err != nil {
		t.Fatal(err)
	}
	_ = sample.Greeting()
}

func BenchmarkGreeting(b *testing.B) {
	for b.Loop() {
		_ = sample.Greeting()
	}
}
