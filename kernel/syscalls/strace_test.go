package syscalls

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/unigo-os/unigo/abi"
)

func (l *straceBuf) String() string { return string(l.b[:l.n]) }

func TestStraceFormat(t *testing.T) {
	line := func(nr uint64, args [6]uint64, r int64) string {
		var l straceBuf
		e := sysLookup(nr)
		l.call(7, nr, e, &args)
		l.result(e, r)
		return l.String()
	}
	atfdcwd := uint64(0xffffffffffffff9c) // -100
	assert.Equal(t, "[tid 7] close(3) = 0\n", line(abi.NRClose, [6]uint64{3}, 0))
	assert.Equal(t, "[tid 7] close(-1) = -1 EBADF (Bad file descriptor)\n", line(abi.NRClose, [6]uint64{0xffffffff}, -abi.EBADF))
	assert.Equal(t, "[tid 7] mmap(NULL, 4096, 0x3, 0x22, -1, 0x0) = 0x7f0000000000\n",
		line(abi.NRMmap, [6]uint64{0, 4096, 3, 0x22, 0xffffffff, 0}, 0x7f0000000000))
	var l straceBuf
	l.arg('f', atfdcwd)
	l.str(", ")
	l.arg('o', 0o755)
	l.str(", ")
	l.arg('p', 0)
	l.str(", ")
	l.arg('i', 0xffffffff)
	l.str(", ")
	l.arg('u', 0xffffffff)
	assert.Equal(t, "AT_FDCWD, 0755, NULL, -1, 4294967295", l.String())
	assert.Equal(t, "[tid 7] lseek(3, -5, 2) = 10\n", line(abi.NRLseek, [6]uint64{3, uint64(0xfffffffffffffffb), 2}, 10))
	assert.Equal(t, "[tid 7] umask(0) = 18\n", line(abi.NRUmask, [6]uint64{0}, 0o22))
	assert.Equal(t, "[tid 7] gettid() = 7\n", line(abi.NRGettid, [6]uint64{}, 7))
	assert.Equal(t, "[tid 7] poll() = -1 ENOSYS (Function not implemented)\n", line(abi.NRPoll, [6]uint64{1, 2, 3}, -abi.ENOSYS))
	assert.Equal(t, "[tid 7] unigo_net_release(0x2a) = 0\n", line(abi.SysNetRelease, [6]uint64{42}, 0))
	assert.Equal(t, "[tid 7] syscall_0x5000() = -1 ENOSYS (Function not implemented)\n", line(0x5000, [6]uint64{}, -abi.ENOSYS))
	assert.Equal(t, "[tid 7] close(3) = -1 E200 (Unknown error 200)\n", line(abi.NRClose, [6]uint64{3}, -200))
	// rt_sigreturn returns the interrupted code's RAX, whatever it held.
	assert.Equal(t, "[tid 7] rt_sigreturn() = 0xffffffffffffff00\n", line(abi.NRRtSigreturn, [6]uint64{}, -256))
}

func TestStraceQuote(t *testing.T) {
	var l straceBuf
	l.quote([]byte("a\"b\\c\n\t\x01\xff"), false)
	assert.Equal(t, `"a\"b\\c\n\t\001\377"`, l.String())
	l = straceBuf{}
	l.quote([]byte("/tmp/x"), true)
	assert.Equal(t, `"/tmp/x"...`, l.String())
}

func TestStraceOverflow(t *testing.T) {
	var l straceBuf
	for i := 0; i < 100; i++ {
		l.str("0123456789")
	}
	assert.Equal(t, straceLineMax, l.n)
	l.finish()
	assert.Equal(t, "...\n", l.String()[straceLineMax-4:])
}

func TestStraceNumbers(t *testing.T) {
	var l straceBuf
	l.oct(0)
	l.byte(' ')
	l.oct(0o100644)
	l.byte(' ')
	l.hex(0)
	l.byte(' ')
	l.hex(0xdeadbeef)
	l.byte(' ')
	l.dec(-9223372036854775808)
	l.byte(' ')
	l.udec(18446744073709551615)
	assert.Equal(t, "0 0100644 0x0 0xdeadbeef -9223372036854775808 18446744073709551615", l.String())
}
