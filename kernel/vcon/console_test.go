package vcon

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readAll(c *Console, size int) (string, bool) {
	var out strings.Builder
	buf := make([]byte, size)
	for {
		n, eof := c.Read(buf)
		out.Write(buf[:n])
		if n == 0 {
			return out.String(), eof
		}
	}
}

func TestHandshake(t *testing.T) {
	c, s := newSim()
	assert.Equal(t, []ctlMsg{{0, EvDeviceReady, 1}}, s.sent())
	require.True(t, s.ctl(1, EvPortAdd, 1))
	require.True(t, s.ctl(1, EvPortOpen, 1))
	got, eof := readAll(c, 16)
	assert.Equal(t, "", got)
	assert.False(t, eof, "open port: no end of input")
	assert.Equal(t, []ctlMsg{{1, EvPortReady, 1}, {1, EvPortOpen, 1}}, s.sent())
	assert.NotZero(t, c.kicks&(1<<iCtlRx), "control buffer reposted and kicked")
}

func TestDataThenClose(t *testing.T) {
	c, s := newSim()
	s.ctl(1, EvPortAdd, 1)
	s.ctl(1, EvPortOpen, 1)
	require.True(t, s.recv(iRx1, []byte("hello\n")))
	require.True(t, s.recv(iRx1, []byte("world\n")))
	s.ctl(1, EvPortOpen, 0)
	buf := make([]byte, 4)
	n, eof := c.Read(buf)
	assert.Equal(t, "hell", string(buf[:n]))
	assert.False(t, eof)
	got, eof := readAll(c, 3)
	assert.Equal(t, "o\nworld\n", got)
	assert.True(t, eof, "closed and drained: end of input")
	n, eof = c.Read(buf)
	assert.Zero(t, n)
	assert.True(t, eof, "end of input stays")
}

func TestBuffersRecycled(t *testing.T) {
	c, s := newSim()
	s.ctl(1, EvPortAdd, 1)
	var want strings.Builder
	for i := 0; i < 5*QueueSize; i++ {
		line := strings.Repeat(string(rune('a'+i%26)), 100+i)
		require.True(t, s.recv(iRx1, []byte(line)), "buffer %d available again", i)
		want.WriteString(line)
		if i%3 == 2 {
			got, eof := readAll(c, 50)
			assert.False(t, eof)
			assert.Equal(t, want.String(), got)
			want.Reset()
		}
	}
}

func TestConsolePortZero(t *testing.T) {
	c, s := newSim()
	s.sent()
	s.ctl(0, EvPortAdd, 1)
	s.ctl(0, EvConsolePort, 1)
	s.ctl(2, EvPortAdd, 1)
	require.True(t, s.recv(iRx0, []byte("zero")))
	require.True(t, s.recv(iRx1, []byte("one")))
	got, eof := readAll(c, 64)
	assert.Equal(t, "zero", got, "only the adopted port's input")
	assert.False(t, eof)
	assert.Equal(t, []ctlMsg{{0, EvPortReady, 1}, {0, EvPortOpen, 1}}, s.sent(), "port 2 gets no answer")
	s.ctl(0, EvPortRemove, 0)
	_, eof = readAll(c, 64)
	assert.True(t, eof, "port removed: end of input")
}

func TestManyPortsFewMessages(t *testing.T) {
	c, s := newSim()
	for id := uint32(0); id < 31; id++ {
		s.ctl(id, EvPortAdd, 1)
		readAll(c, 8)
	}
	assert.False(t, c.broken, "the control transmit queue never fills")
	assert.Equal(t, []ctlMsg{{0, EvDeviceReady, 1}, {0, EvPortReady, 1}, {0, EvPortOpen, 1}}, s.sent())
}

func TestCloseOfOtherPortIgnored(t *testing.T) {
	c, s := newSim()
	s.ctl(1, EvPortAdd, 1)
	s.ctl(0, EvPortOpen, 0)
	s.ctl(7, EvPortRemove, 0)
	s.recv(iCtlRx, []byte{1, 0, 0}) // short: ignored
	_, eof := readAll(c, 8)
	assert.False(t, eof)
	assert.False(t, c.broken)
}

func TestHostileUsedEntries(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  func(s *sim)
		want string
	}{
		{"id out of range", func(s *sim) { s.put(iRx1, QueueSize, 1) }, "not in flight"},
		{"id not in flight", func(s *sim) {
			s.put(iCtlTx, 5, 0) // never posted: slots 0-2 are in flight
			s.c.send(1, EvPortOpen, 1)
		}, "not in flight"},
		{"longer than buffer", func(s *sim) {
			id, _, _ := s.take(iRx1)
			s.put(iRx1, uint32(id), RxBufSize+1)
		}, "longer than its buffer"},
		{"index ahead", func(s *sim) {
			s.used[iCtlRx] += QueueSize + 1
			*u16(s.c.qs[iCtlRx].used + 2) = s.used[iCtlRx]
		}, "runs ahead"},
		{"control longer than buffer", func(s *sim) {
			id, _, _ := s.take(iCtlRx)
			s.put(iCtlRx, uint32(id), CtlBufSize+1)
		}, "longer than its buffer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := newSim()
			s.ctl(1, EvPortAdd, 1)
			readAll(c, 8)
			tc.bad(s)
			_, eof := readAll(c, 8)
			assert.True(t, eof, "a broken device ends the input")
			assert.True(t, c.FaultNew)
			_, why := c.FaultText()
			assert.Contains(t, why, tc.want)
		})
	}
}
