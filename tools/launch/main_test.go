package launch

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMainNetFD: -net-fd takes only a descriptor that is a SOCK_SEQPACKET
// socket (the jailer's unigo-net); anything else is one line and 125.
func TestMainNetFD(t *testing.T) {
	f, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer f.Close()
	for arg, want := range map[string]string{
		"x":                       `-net-fd "x": want a descriptor`,
		"2":                       `-net-fd "2": want a descriptor`,
		fmt.Sprint(f.Fd()):        "not a SOCK_SEQPACKET socket",
		fmt.Sprint(f.Fd() + 1000): "not a SOCK_SEQPACKET socket",
	} {
		var out, errb bytes.Buffer
		code := Main([]string{"-net-fd", arg, "img"}, strings.NewReader(""), &out, &errb, Hooks{})
		assert.Equal(t, exitLauncher, code, arg)
		assert.Contains(t, errb.String(), want, arg)
		assert.Equal(t, 1, strings.Count(errb.String(), "\n"), errb.String())
		assert.True(t, strings.HasPrefix(errb.String(), "unigo run: "), errb.String())
	}
}
