package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// One timed run of an image under one runner, as `unigo bench` sees it
// from outside: the process is exec'd with its stdout on a pipe, and the
// times of the first complete output line and of the exit are taken on
// CLOCK_MONOTONIC relative to the moment just before the exec. Under the
// launcher (`unigo run -bench`) the launcher's own marks (phases, guest
// boot marks) and memory report come back on stderr in the same clock.

// benchRunner is a way to execute an image.
type benchRunner struct {
	name string
	// command returns the command line for image with extra environment
	// env (KEY=VAL) and smp vCPUs (VMs only).
	command func(image string, env []string, smp int) *exec.Cmd
	// decode maps the process's exit status to the guest's exit code.
	decode func(status int) (int, error)
}

// runTimes is what one run measured. Durations are from just before the
// exec; marks holds the launcher's phases ("guest entry", ...) likewise.
type runTimes struct {
	firstLine, exit time.Duration
	marks           map[string]time.Duration
	memory          map[string]int64 // launcher: KiB figures of the memory line
	maxRSS          int64            // KiB, from the child's rusage
	output          string
}

// timedRun runs cmd once and measures it. A run that fails (non-zero guest
// exit, no output) is an error: the figures would not mean anything.
func timedRun(r benchRunner, cmd *exec.Cmd, timeout time.Duration) (*runTimes, error) {
	// A pipe of our own rather than cmd.StdoutPipe, which Wait closes
	// as soon as the process exits, possibly before we have read it.
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	type lineTime struct {
		out []byte
		at  int64 // CLOCK_MONOTONIC of the first '\n', 0 if none
	}
	got := make(chan lineTime, 1)
	start := Now()
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, err
	}
	go func() {
		var lt lineTime
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			if lt.at == 0 && bytes.IndexByte(buf[:n], '\n') >= 0 {
				lt.at = Now()
			}
			lt.out = append(lt.out, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- lt
	}()
	timer := time.AfterFunc(timeout, func() { cmd.Process.Kill() })
	waitErr := cmd.Wait()
	end := Now()
	timer.Stop()
	lt := <-got
	rt := &runTimes{exit: time.Duration(end - start), output: string(lt.out)}
	if lt.at != 0 {
		rt.firstLine = time.Duration(lt.at - start)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rt.maxRSS = ru.Maxrss
	}
	status := cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return nil, waitErr
	}
	if status < 0 {
		return nil, fmt.Errorf("%s: killed (%v) after %v: %s", r.name, cmd.ProcessState, timeout, lastLines(stderr.String()))
	}
	code, err := r.decode(status)
	if err != nil || code != 0 {
		return nil, fmt.Errorf("%s: exit status %d (%v): %s%s", r.name, status, err, lastLines(string(lt.out)), lastLines(stderr.String()))
	}
	if lt.at == 0 {
		return nil, fmt.Errorf("%s: no output line", r.name)
	}
	rt.marks, rt.memory = ParseLines(stderr.String(), start)
	return rt, nil
}

// parseGuestFigures reads the "bench: NAME VALUE" lines the bench guest
// prints (tests/guests/bench).
func parseGuestFigures(out string) map[string]float64 {
	figs := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(strings.TrimSpace(sc.Text()))
		if len(f) == 3 && f[0] == "bench:" {
			if v, err := strconv.ParseFloat(f[2], 64); err == nil {
				figs[f[1]] = v
			}
		}
	}
	return figs
}

// medianOf returns the median of v (the mean of the middle two for an even
// count), or NaN-free 0 with ok=false for none.
func medianOf(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// lastLines keeps an error message short: the last few lines of s.
func lastLines(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > 4 {
		lines = lines[len(lines)-4:]
	}
	return strings.Join(lines, " | ")
}

// firstLine returns the first non-empty line of s, or def.
func firstLine(s, def string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return def
}
