package tests

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const catstdinPkg = "./tests/guests/catstdin"

// TestStdinEOF: `... | unigo run` gives the guest the whole input and
// then end of file (a read returns 0), so a program copying its stdin
// ends; input sent before the guest booted is kept, and more than the
// kernel's 4 KiB console ring arrives whole.
func TestStdinEOF(t *testing.T) {
	needLauncher(t)
	var in strings.Builder
	for i := 0; in.Len() < 12000; i++ {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	for _, input := range []string{"", "hi\n", in.String()} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, unigoBin, "run", "-timeout", "45s", images[catstdinPkg])
		cmd.Dir = t.TempDir()
		cmd.WaitDelay = 5 * time.Second
		cmd.Stdin = strings.NewReader(input)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		require.NoError(t, err, "%s%s", stdout.String(), stderr.String())
		assert.Equal(t, input+fmt.Sprintf("catstdin: eof after %d bytes\n", len(input)), stdout.String())
	}
}
