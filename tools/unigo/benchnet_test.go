package main

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
		{name: "native", reqPerSec: 20000, p50: time.Millisecond, p99: 3 * time.Millisecond, requests: 100000, bulkMBps: 900},
		{name: "launcher", failed: errors.New("not serving after 30s")},
	}}
	var b bytes.Buffer
	writeNetTable(&b, s)
	out := b.String()
	assert.Contains(t, out, "| native | 20000 | 1.00 ms | 3.00 ms | 0 | 900.0 MB/s |")
	assert.Contains(t, out, "| launcher | failed: not serving after 30s |")
}
