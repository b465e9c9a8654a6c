package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImageCommand makes an executable from a plain go build bootable.
func TestImageCommand(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "withkernel")
	cmd := exec.Command("go", "build", "-o", exe, "./testdata/withkernel")
	cmd.Env = goEnv()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	var stdout, stderr bytes.Buffer
	img := filepath.Join(dir, "withkernel.img")
	require.Equal(t, 0, imageCmd([]string{exe, img}, &stdout, &stderr), stderr.String())
	checkImage(t, img, "hello from withkernel\n")

	for args, msg := range map[string]string{
		"":              "unigo image: want IN and OUT",
		"a":             "unigo image: want IN and OUT",
		"missing.exe x": "unigo image: missing.exe: no such file or directory",
		"-x a b":        "unigo image: flag provided but not defined: -x",
	} {
		stderr.Reset()
		code := imageCmd(strings.Fields(args), &stdout, &stderr)
		assert.NotZero(t, code, args)
		assert.Contains(t, stderr.String(), msg, args)
	}
	notELF := filepath.Join(dir, "text")
	require.NoError(t, os.WriteFile(notELF, []byte("hello"), 0o644))
	stderr.Reset()
	assert.Equal(t, 1, imageCmd([]string{notELF, img}, &stdout, &stderr))
	assert.Equal(t, 1, bytes.Count(stderr.Bytes(), []byte("\n")), stderr.String())

	stdout.Reset()
	assert.Equal(t, 0, imageCmd([]string{"-h"}, &stdout, &stderr))
	assert.Contains(t, stdout.String(), "usage: unigo image IN OUT")
}
