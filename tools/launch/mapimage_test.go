package launch

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMapImage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "img")
	want := []byte("\x7fELF and some bytes")
	require.NoError(t, os.WriteFile(p, want, 0o644))
	b, f, evict, release, err := mapImage(p)
	require.NoError(t, err)
	assert.Equal(t, want, b)
	require.NotNil(t, f, "a regular file is mapped and comes with its file")
	evict() // pages come back from the file on the next read
	assert.Equal(t, want, b)
	release()

	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	b, f, evict, release, err = mapImage(empty)
	require.NoError(t, err)
	assert.Empty(t, b)
	assert.Nil(t, f, "an empty file is read, not mapped")
	evict()
	release()

	_, _, _, _, err = mapImage(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
