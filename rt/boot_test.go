package rt_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/arch/x86/x86asm"

	"github.com/unigo-os/unigo/abi"
	_ "github.com/unigo-os/unigo/kernel" // provides the hooks rt links against
)

// TestPVHEntry32 disassembles the PVH entry in 32-bit mode, as the CPU
// runs it, and checks what boot_amd64.s relies on: the instruction
// boundaries its CALL/POP and LEA arithmetic assumes, and that every
// instruction decodes to the same thing the 64-bit assembler meant.
func TestPVHEntry32(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "main.go")
	require.NoError(t, os.WriteFile(main, []byte("package main\n\nimport _ \"github.com/unigo-os/unigo/kernel\"\n\nfunc main() {}\n"), 0o644))
	bin := filepath.Join(dir, "prog")
	cmd := exec.Command("go", "build", "-o", bin, main)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))

	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)
	addr := map[string]uint64{}
	for _, s := range syms {
		addr[s.Name] = s.Value
	}
	entry := addr["github.com/unigo-os/unigo/rt.pvhEntry.abi0"]
	boot32 := addr["github.com/unigo-os/unigo/rt.boot32"]
	entry64 := addr["github.com/unigo-os/unigo/rt.entry64.abi0"]
	require.NotZero(t, entry)
	require.NotZero(t, boot32)
	require.NotZero(t, entry64)
	require.Less(t, entry64, uint64(1)<<32, "entry64 must be reachable from 32-bit code")

	text := f.Section(".text")
	code, err := text.Data()
	require.NoError(t, err)
	off := entry - text.Addr
	var pcs []uint64
	var insts []x86asm.Inst
	for pc := off; pc < off+64; {
		inst, err := x86asm.Decode(code[pc:], 32)
		require.NoError(t, err, "32-bit decode at +%d", pc-off)
		pcs = append(pcs, pc-off)
		insts = append(insts, inst)
		pc += uint64(inst.Len)
	}
	// Offsets named in boot_amd64.s's comments.
	require.Equal(t, []uint64{0, 1, 2, 5, 7, 12, 13, 16, 22, 26, 32}, pcs[:11])
	require.Equal(t, x86asm.CALL, insts[4].Op)
	require.Equal(t, x86asm.POP, insts[5].Op)
	require.Equal(t, x86asm.EBP, insts[5].Args[0])

	// Replay the address arithmetic: EBP = address of the POP; the LEA at
	// +16 loads its raw displacement in 32-bit mode.
	ebp := entry + 12
	disp := func(i int) int64 { return insts[i].Args[1].(x86asm.Mem).Disp }
	require.Equal(t, x86asm.LEA, insts[7].Op)
	esi := uint64(int64(ebp+10) + disp(7))
	require.Equal(t, boot32, esi, "LEA at +16 must yield &boot32")
	ecx := uint64(int64(ebp+20) + disp(9))
	require.Equal(t, entry64, ecx, "LEA at +26 must yield &entry64")

	// The boot mark right after: MOV AL, BootMarkEntry; OUT PortBootMark, AL.
	require.Equal(t, []uint64{36, 38}, pcs[11:13])
	require.Equal(t, x86asm.MOV, insts[11].Op)
	require.Equal(t, x86asm.Imm(abi.BootMarkEntry), insts[11].Args[1])
	require.Equal(t, x86asm.OUT, insts[12].Op)
	require.Equal(t, x86asm.Imm(abi.PortBootMark), insts[12].Args[0])
}
