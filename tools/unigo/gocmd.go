package main

import (
	"os/exec"
	"syscall"
	"time"
)

// goCmd is a go command that dies with b.ctx: it runs in a process group
// of its own (go build's compilers and linker with it), killed as a whole
// when the context is canceled (the caller turns signals into that), so that a signal to `unigo run` during a
// build leaves no orphaned compiler behind.
func (b *builder) goCmd(args ...string) *exec.Cmd {
	if b.ctx == nil {
		// Stays in our process group: a terminal's ^C reaches it too.
		return exec.Command("go", args...)
	}
	cmd := exec.CommandContext(b.ctx, "go", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}
