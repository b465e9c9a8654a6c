package crash

import (
	"bytes"
	"encoding/binary"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/unigo-os/unigo/abi"
)

// recordBytes encodes rec the way the guest lays it out.
func recordBytes(rec abi.CrashRecord) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, &rec)
	return b.Bytes()
}

// FuzzReport feeds random crash records and stack memory to the report
// generator, with the test binary itself as the image so that RIP and
// return addresses can land in real, symbolized code. It must never panic
// and always start with the reason line.
func FuzzReport(f *testing.F) {
	exe, err := os.Executable()
	if err != nil {
		f.Fatal(err)
	}
	syms, err := LoadSymbols(exe)
	if err != nil {
		f.Fatal(err)
	}
	im, _ := loadImage(f, exe)
	text := uint64(reflect.ValueOf(Report).Pointer())

	rec := abi.CrashRecord{Magic: abi.CrashMagic, Vector: 14, RIP: text + 7, RSP: 0x10000, RFLAGS: 0x202}
	rec.Regs[5] = 0x10010
	stack := make([]byte, 64)
	binary.LittleEndian.PutUint64(stack[0:], text+40)
	binary.LittleEndian.PutUint64(stack[0x10:], 0x10020)
	binary.LittleEndian.PutUint64(stack[0x18:], text+100)
	binary.LittleEndian.PutUint64(stack[0x20:], 0x10010)
	binary.LittleEndian.PutUint64(stack[0x28:], text+200)
	f.Add(recordBytes(rec), stack)
	rec.Vector, rec.RIP = 13, text
	f.Add(recordBytes(rec), stack)
	rec.Vector, rec.RIP, rec.MsgLen = VectorSoftware, 0xffffffffffffffff, 1000
	f.Add(recordBytes(rec), []byte{})

	f.Fuzz(func(t *testing.T, recData, stack []byte) {
		rec, _ := ParseRecord(append(recData, make([]byte, abi.CrashRecordSize)...))
		// Stack memory sits at RSP; everything else reads from the image.
		read := func(addr uint64, n int) ([]byte, bool) {
			if off := addr - rec.RSP; addr >= rec.RSP && off <= uint64(len(stack)) && uint64(n) <= uint64(len(stack))-off {
				return stack[off : off+uint64(n)], true
			}
			return im.read(addr, n)
		}
		var out bytes.Buffer
		if err := Report(&out, syms, &rec, read); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "guest crashed: ") {
			t.Fatalf("report starts %q", out.String()[:min(40, out.Len())])
		}
		if n := strings.Count(out.String(), "\n  #"); n > MaxFrames {
			t.Fatalf("%d frames", n)
		}
	})
}
