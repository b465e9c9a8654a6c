package notify

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// As a Linux process, Ready speaks systemd's notify protocol.
func TestReadySDNotify(t *testing.T) {
	for _, name := range []string{filepath.Join(t.TempDir(), "notify"), "@unigo-notify-test"} {
		addr := &net.UnixAddr{Name: name, Net: "unixgram"}
		c, err := net.ListenUnixgram("unixgram", addr)
		require.NoError(t, err)
		t.Setenv("NOTIFY_SOCKET", name)
		require.NoError(t, Defer())
		require.NoError(t, Ready())
		buf := make([]byte, 64)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, err := c.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, "READY=1", string(buf[:n]))
		c.Close()
	}
}

func TestReadyWithoutSupervisor(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	assert.NoError(t, Ready())
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent"))
	assert.ErrorContains(t, Ready(), "sendto")
}
