package kctx

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestConsoleQuiesce checks that the exit waits for a line in progress and
// then holds ConLock, and that it does not wait for good on a holder that
// never lets go.
func TestConsoleQuiesce(t *testing.T) {
	defer func() {
		quiesced.Store(false)
		ConLock.Unlock()
	}()

	ConLock.Lock() // another CPU is writing a line
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		released <- time.Now()
		ConLock.Unlock()
	}()
	ConsoleQuiesce()
	done := time.Now()
	assert.False(t, done.Before(<-released), "returned before the line was finished")
	assert.False(t, ConLock.TryLock(), "ConLock is held after ConsoleQuiesce")
	ConsoleQuiesce() // later calls return at once

	quiesced.Store(false) // ConLock still held, as by a CPU that died holding it
	start := time.Now()
	ConsoleQuiesce()
	assert.Less(t, time.Since(start), 10*time.Second, "bounded wait")
	assert.True(t, quiesced.Load())
}
