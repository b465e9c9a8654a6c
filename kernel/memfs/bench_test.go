package memfs

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func BenchmarkLookup(b *testing.B) {
	fresh(b)
	require.Zero(b, MkdirAll(bs("/usr/share/zoneinfo/Europe"), 0o755, 0))
	mkfile(b, "/usr/share/zoneinfo/Europe/Paris", "x")
	p := bs("/usr/share/zoneinfo/Europe/Paris")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Lookup(Root(), p, true); err != 0 {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateUnlink(b *testing.B) {
	fresh(b)
	p := bs("/tmp/file")
	b.ReportAllocs()
	for b.Loop() {
		ino, err := Open(Root(), p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644, 0)
		if err != 0 {
			b.Fatal(err)
		}
		Unref(ino)
		Unlink(Root(), p, 0)
	}
}

func BenchmarkWriteRead4K(b *testing.B) {
	fresh(b)
	ino, err := Open(Root(), bs("/tmp/f"), unix.O_CREAT|unix.O_RDWR, 0o644, 0)
	require.Zero(b, err)
	buf := make([]byte, 4096)
	b.SetBytes(2 * 4096)
	b.ReportAllocs()
	off := int64(0)
	for b.Loop() {
		Write(ino, buf, off, 0)
		Read(ino, buf, off)
		off = (off + 4096) % (64 << 20)
	}
}

func BenchmarkReadDir10k(b *testing.B) {
	fresh(b)
	require.Zero(b, Mkdir(Root(), bs("/tmp/d"), 0o755, 0))
	d := lookup(b, "/tmp/d")
	name := []byte("file-00000")
	for i := 0; i < 10000; i++ {
		for j, v := 9, i; j >= 5; j, v = j-1, v/10 {
			name[j] = byte('0' + v%10)
		}
		ino, err := Open(d, name, unix.O_CREAT|unix.O_EXCL, 0o644, 0)
		require.Zero(b, err)
		Unref(ino)
	}
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	for b.Loop() {
		c := uint64(0)
		for {
			n, next, _ := ReadDir(d, c, buf)
			if n == 0 {
				break
			}
			c = next
		}
	}
}
