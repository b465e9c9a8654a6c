package sibling

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPath(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	dir := filepath.Dir(self)

	p, err := Path(filepath.Base(self))
	require.NoError(t, err)
	assert.Equal(t, self, p)

	_, err = Path("no-such-sibling")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no no-such-sibling next to "+self)

	// A directory or a file that is not executable is no program.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "a-dir"), 0o755))
	defer os.Remove(filepath.Join(dir, "a-dir"))
	_, err = Path("a-dir")
	assert.Error(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plain"), nil, 0o644))
	defer os.Remove(filepath.Join(dir, "plain"))
	_, err = Path("plain")
	assert.Error(t, err)
}
