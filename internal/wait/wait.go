// Package wait is the tests' one way to wait for a condition that another
// goroutine or process makes true. It is for tests only.
package wait

import (
	"testing"
	"time"
)

// For polls cond until it holds and fails the test (naming what it waited
// for) if it does not within timeout of real time. It polls every 50 µs at
// first, backing off to every 5 ms: quick for goroutines about to queue,
// cheap for processes that take seconds.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := 50 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 5*time.Millisecond)
	}
}
