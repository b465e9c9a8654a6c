package netstack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseConfigNetStats(t *testing.T) {
	c, err := parseConfig("unigo.netstats=5s")
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, c.statsEvery)
	c, err = parseConfig("unigo.argv0=x")
	require.NoError(t, err)
	assert.Zero(t, c.statsEvery, "off unless asked for")
	for _, bad := range []string{"unigo.netstats=0s", "unigo.netstats=-1s", "unigo.netstats=often"} {
		_, err = parseConfig(bad)
		assert.ErrorContains(t, err, bad)
	}
}

func TestLossCounters(t *testing.T) {
	s := newStack()
	defer func() { s.Close(); s.Wait() }()
	assert.Contains(t, lossCounters(s, nil), "tcp segments sent 0,")
	s.Stats().TCP.Retransmits.IncrementBy(4)
	s.Stats().TCP.Timeouts.IncrementBy(4)
	s.Stats().TCP.ListenOverflowSynDrop.IncrementBy(2)
	got := lossCounters(s, nil)
	assert.Contains(t, got, "retransmits 4 (fast 0), timeouts 4,")
	assert.Contains(t, got, "SYN drops 2,")
}
