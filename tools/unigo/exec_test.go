package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExecRefuses(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	notELF := filepath.Join(t.TempDir(), "x.test")
	require.NoError(t, os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755))
	for _, c := range []struct {
		args []string
		msg  string
	}{
		// This test binary is a Go program without the kernel, as go
		// test builds it.
		{[]string{self, "-test.v"}, "unigo exec: " + filepath.Base(self) + " does not link the unigo kernel: add a _test.go file with import _ \"github.com/unigo-os/unigo/kernel\" to the package (see unigo exec -h), or use unigo test\n"},
		{[]string{notELF}, "unigo exec: " + notELF + ": not an ELF executable\n"},
		{[]string{"-m"}, "unigo exec: flag needs an argument: -m\n"},
		{[]string{"-bogus", "x"}, "unigo exec: flag provided but not defined: -bogus (see unigo exec -h)\n"},
		{[]string{"-m", "512M"}, "unigo exec: no binary to run (usage: unigo exec [flags] BINARY [ARGS...])\n"},
		{nil, "unigo exec: no binary to run (usage: unigo exec [flags] BINARY [ARGS...])\n"},
	} {
		var o, e bytes.Buffer
		assert.Equal(t, 2, runExec(c.args, &o, &e), "%v", c.args)
		assert.Equal(t, c.msg, e.String(), "%v", c.args)
		assert.Empty(t, o.String())
	}
	var o, e bytes.Buffer
	assert.Equal(t, 0, runExec([]string{"-h"}, &o, &e))
	assert.True(t, strings.HasPrefix(o.String(), "usage: unigo exec"))
}

func TestTestTimeoutArg(t *testing.T) {
	assert.Equal(t, "10m0s", testTimeoutArg([]string{"-test.paniconexit0", "-test.timeout=10m0s"}).String())
	assert.Equal(t, "3s", testTimeoutArg([]string{"-test.timeout", "3s"}).String())
	assert.Zero(t, testTimeoutArg([]string{"-test.v"}))
	assert.Zero(t, testTimeoutArg([]string{"-test.timeout=never"}))
}
