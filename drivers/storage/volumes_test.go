package storage

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestVolumePath(t *testing.T) {
	for tag, want := range map[string]string{"/data": "/data", "/mnt/a b": "/mnt/a b", "share0": "/mnt/share0"} {
		got, err := volumePath(tag)
		assert.NoError(t, err, tag)
		assert.Equal(t, want, got, tag)
	}
	for _, tag := range []string{"", "/", "/a/../b", "/a/", "a/b", "..", "."} {
		_, err := volumePath(tag)
		assert.Error(t, err, tag)
	}
}
