package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const durablePkg = "./tests/guests/durable"

// durableRecord is record n as tests/guests/durable writes it.
func durableRecord(n int) []byte {
	b := make([]byte, 512)
	copy(b, fmt.Sprintf("rec %08d ", n))
	for i := 13; i < len(b)-1; i++ {
		b[i] = 'a' + byte((n+i)%26)
	}
	b[len(b)-1] = '\n'
	return b
}

// TestDurability kills the launcher with SIGKILL while the guest writes
// numbered records, each followed by fsync, to a file on a volume and to a
// block device: every record the guest acknowledged must be on the host,
// intact, in both. Three runs, each killed after a random number of
// acknowledgements.
func TestDurability(t *testing.T) {
	needLauncher(t)
	for run := 0; run < 3; run++ {
		t.Run(strconv.Itoa(run), func(t *testing.T) {
			dir := t.TempDir()
			vol := filepath.Join(dir, "vol")
			require.NoError(t, os.Mkdir(vol, 0o755))
			disk := filepath.Join(dir, "disk.img")
			require.NoError(t, os.WriteFile(disk, nil, 0o644))
			require.NoError(t, os.Truncate(disk, 16<<20))

			killAt := 5 + rand.IntN(120)
			cmd := exec.Command(unigoBin, "run", "-m", "128M", "-v", vol+":/data", "-drive", disk,
				images[durablePkg], "--", "/data/log", "/dev/vda")
			var stderr syncBuffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			defer cmd.Process.Kill()

			// Read acknowledgements until the chosen one, kill, then
			// take what the pipe still holds: a line printed before the
			// kill counts too.
			acked := -1
			sc := bufio.NewScanner(stdout)
			var out strings.Builder
			for sc.Scan() {
				line := sc.Text()
				out.WriteString(line + "\n")
				if n, ok := strings.CutPrefix(line, "ack "); ok {
					v, err := strconv.Atoi(n)
					require.NoError(t, err, line)
					require.Equal(t, acked+1, v, "acknowledgements in order")
					acked = v
					if acked == killAt {
						require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
					}
				}
			}
			rest, _ := io.ReadAll(stdout)
			cmd.Wait()
			require.GreaterOrEqual(t, acked, killAt, "guest output:\n%s%s\nlauncher: %s", &out, rest, &stderr)
			t.Logf("killed after record %d was acknowledged (%d in all)", killAt, acked+1)

			log, err := os.ReadFile(filepath.Join(vol, "log"))
			require.NoError(t, err)
			dev, err := os.ReadFile(disk)
			require.NoError(t, err)
			for n := 0; n <= acked; n++ {
				want := durableRecord(n)
				off := n * len(want)
				require.GreaterOrEqual(t, len(log), off+len(want), "volume file lost acknowledged record %d", n)
				assert.True(t, bytes.Equal(want, log[off:off+len(want)]), "volume record %d", n)
				assert.True(t, bytes.Equal(want, dev[off:off+len(want)]), "disk record %d", n)
			}
		})
	}
}
