package tests

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPortForwardBurst opens burstConns keep-alive connections at once
// through a -p forward of the user-mode network to examples/httpd and
// makes burstRequests requests on each, then checks the counters on the
// path (the launcher's UNIGO_VMM_STATS, the guest's unigo.netstats): every
// request answered, and no frame dropped on the way in either direction,
// neither at the launcher's receive backlog nor at the guest's full
// transmit queues (docs/BENCHMARKS.md, the soak: each such drop cost its
// connection a retransmission timeout, and a few of them requests 30 s
// late or an EOF).
func TestPortForwardBurst(t *testing.T) {
	const burstConns, burstRequests = 400, 25
	r := runnerNamed("launcher")
	r.check(t)
	t.Setenv("UNIGO_VMM_STATS", "1")
	port := freePorts(t, 1)[0]
	spec := runSpec{image: images[httpdPkg], memory: "512M", cpus: 2, timeout: 5 * time.Minute,
		kparams: []string{"unigo.netstats=1s"}}
	netSetups["launcher"].spec(&spec, map[int]int{port: 8080}, nil)
	vm := startVM(t, r, spec)
	vm.waitFor(t, "httpd: serving on", "")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	tr := &http.Transport{MaxIdleConnsPerHost: burstConns, MaxConnsPerHost: burstConns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := map[string]int{}
	for range burstConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range burstRequests {
				resp, err := client.Get(base + "/")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s", resp.Status)
					}
				}
				if err != nil {
					mu.Lock()
					errs[err.Error()]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	assert.Empty(t, errs, "failed requests")
	// A last report of the guest's counters covers the whole burst.
	time.Sleep(1500 * time.Millisecond)
	guest := vm.out.String() + vm.diag.String()
	resp, err := client.Get(base + "/quit")
	require.NoError(t, err)
	resp.Body.Close()
	vm.waitExit(t, r, time.Minute)

	all := guest + vm.out.String() + vm.diag.String()
	dev := regexp.MustCompile(`virtio device 1: .*?; tx \d+ frames \(\d+ dropped\), rx (\d+) frames \((\d+) dropped`).FindStringSubmatch(all)
	require.NotNil(t, dev, "the launcher's device counters (UNIGO_VMM_STATS)")
	frames, _ := strconv.Atoi(dev[1])
	assert.Greater(t, frames, burstConns*burstRequests, "frames to the guest")
	assert.Equal(t, "0", dev[2], "frames to the guest dropped by the launcher's device")
	stats := regexp.MustCompile(`unigo: netstack: .*`).FindAllString(guest, -1)
	require.NotEmpty(t, stats, "the guest's counters (unigo.netstats)")
	last := stats[len(stats)-1]
	assert.Contains(t, last, "send errors 0,", "segments the guest's full transmit queues dropped")
	assert.Contains(t, last, "dropped with the hold full 0;")
	assert.Contains(t, last, "listen overflow: SYN drops 0,")
}
