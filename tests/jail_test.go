package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJailedLauncher: `unigo run -jail` serves examples/httpd through the
// user-mode network with 2 vCPUs under its filters: the process shows
// Seccomp 2 and NoNewPrivs 1 (and, started as root, no capabilities and
// user nobody), each vCPU thread has its own extra filter (2 filters where
// the other threads have 1), and the guest still serves and exits 0.
func TestJailedLauncher(t *testing.T) {
	needLauncher(t)
	port := freePorts(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unigoBin, "run", "-jail", "-m", "256M", "-smp", "2",
		"-p", fmt.Sprintf("%d:8080", port), images[httpdPkg])
	out, diag := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, diag
	cmd.Dir = t.TempDir()
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("guest output:\n%s\nlauncher:\n%s", out, diag)
		}
	}()
	for !strings.Contains(out.String(), "httpd: serving on") {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("launcher exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	get := func(path string) string {
		resp, err := (&http.Client{Timeout: time.Minute}).Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	assert.Equal(t, "Hello from unigo!\n", get("/"))

	pid := strconv.Itoa(cmd.Process.Pid)
	st, err := os.ReadFile("/proc/" + pid + "/status")
	require.NoError(t, err)
	s := string(st)
	assert.Contains(t, s, "Seccomp:\t2\n")
	assert.Contains(t, s, "NoNewPrivs:\t1\n")
	if os.Geteuid() == 0 {
		assert.Contains(t, s, "CapEff:\t0000000000000000\n")
		assert.Contains(t, s, "Uid:\t65534\t65534\t65534\t65534\n")
	}
	tasks, err := filepath.Glob("/proc/" + pid + "/task/*")
	require.NoError(t, err)
	filters := map[string]int{}
	for _, task := range tasks {
		comm, _ := os.ReadFile(task + "/comm")
		if strings.HasPrefix(string(comm), "kvm-") {
			// KVM's own worker (kvm-nx-lpage-recovery), a kernel task in
			// the process, started from the first vCPU thread: it
			// inherits that thread's filters but makes no system calls.
			continue
		}
		b, err := os.ReadFile(task + "/status")
		if err != nil {
			continue // a thread that just exited
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Seccomp_filters:\t"); ok {
				filters[v]++
			}
		}
	}
	if len(filters) > 0 { // the field is there since Linux 5.9
		assert.Equal(t, 2, filters["2"], "vCPU threads with their own filter: %v", filters)
		assert.Positive(t, filters["1"], "other threads: %v", filters)
		assert.Zero(t, filters["0"], "unfiltered threads: %v", filters)
	}

	assert.Equal(t, "bye\n", get("/quit"))
	select {
	case err := <-exited:
		exited <- err
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("launcher did not exit")
	}
}
