package bench

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentileNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	assert.Equal(t, 50*time.Millisecond, percentile(lat, 50))
	assert.Equal(t, 99*time.Millisecond, percentile(lat, 99))
	assert.Equal(t, 7*time.Millisecond, percentile([]time.Duration{7 * time.Millisecond}, 99))
	assert.Zero(t, percentile(nil, 99))
}

func TestWriteNetTable(t *testing.T) {
	s := &benchSuite{netLoad: defaultNetLoad, net: []netResult{
		{name: "native", setup: "loopback", loadgen: "wrk", reqPerSec: 20000, p50: time.Millisecond, p99: 3 * time.Millisecond, requests: 100000, downMBps: 900, upMBps: 1250},
		{name: "launcher", setup: "loopback", loadgen: "wrk", reqPerSec: 5000, p50: 2 * time.Millisecond, p99: 9 * time.Millisecond, requests: 25000, errors: 2, downMBps: 100},
		{name: "launcher", setup: "TAP", failed: errors.New("not serving after 60s")},
	}, tapSkipped: ""}
	var b bytes.Buffer
	writeNetTable(&b, s)
	out := b.String()
	assert.Contains(t, out, "| loopback | native | wrk | 20000 | 1.00x | 1.00 ms | 3.00 ms | 0 | 900 MB/s (7.20 Gbit/s) | 1250 MB/s (10.00 Gbit/s) |")
	assert.Contains(t, out, "| loopback | launcher | wrk | 5000 | 0.25x | 2.00 ms | 9.00 ms | 2 | 100 MB/s (0.80 Gbit/s) | – |")
	assert.Contains(t, out, "| TAP | launcher | | failed: not serving after 60s |")

	s = &benchSuite{netLoad: defaultNetLoad, tapSkipped: "needs root"}
	b.Reset()
	writeNetTable(&b, s)
	assert.Contains(t, b.String(), "TAP setup not run: needs root.")
}

// A report of wrk 4.1.0 (Debian's) run with --latency.
const wrkReport = `Running 5s test @ http://127.0.0.1:8080/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   622.10us  410.77us  12.01ms   91.02%
    Req/Sec    12.41k     1.02k   14.20k    70.00%
  Latency Distribution
     50%  520.00us
     75%  700.12us
     90%    0.98ms
     99%    2.10ms
  123456 requests in 5.00s, 15.19MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 5
Requests/sec:  24680.12
Transfer/sec:      3.04MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkReport)
	require.NoError(t, err)
	assert.InDelta(t, 24680.12, r.reqPerSec, 0.001)
	assert.Equal(t, 520*time.Microsecond, r.p50)
	assert.Equal(t, 2100*time.Microsecond, r.p99)
	assert.Equal(t, 123456, r.requests)
	assert.Equal(t, 8, r.errors)

	for _, bad := range []string{"", "wrk: command not found", "  Latency Distribution\n     50%  1.00ms\n", "     50%  1.00xs\n     99%  1ms\nRequests/sec: 1\n"} {
		_, err := parseWrk(bad)
		assert.Error(t, err, "%q", bad)
	}
	d, err := parseWrkDuration("1.50m")
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, d)
	d, err = parseWrkDuration("1.02s")
	require.NoError(t, err)
	assert.Equal(t, 1020*time.Millisecond, d)
}
