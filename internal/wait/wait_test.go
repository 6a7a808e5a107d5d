package wait

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestForReturnsOnceTrue(t *testing.T) {
	var n atomic.Int32
	go func() {
		time.Sleep(20 * time.Millisecond)
		n.Store(1)
	}()
	For(t, 5*time.Second, "the store", func() bool { return n.Load() == 1 })
}

// failing records Fatalf instead of ending the test.
type failing struct {
	testing.TB
	msg string
}

func (f *failing) Helper() {}
func (f *failing) Fatalf(format string, args ...any) {
	f.msg = format
	panic(f)
}

func TestForFailsAfterTimeout(t *testing.T) {
	f := &failing{TB: t}
	start := time.Now()
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Fatalf("recovered %v; want the Fatalf", r)
			}
		}()
		For(f, 30*time.Millisecond, "never", func() bool { return false })
	}()
	if took := time.Since(start); took < 30*time.Millisecond || f.msg == "" {
		t.Errorf("gave up after %v with %q; want a Fatalf after 30ms", took, f.msg)
	}
}
