// Package flight coalesces concurrent calls for the same key into one
// execution whose result every caller receives: a thousand simultaneous
// refreshes of one code cost one backend call.
//
// Unlike golang.org/x/sync/singleflight it gives every caller its own
// deadline (a slow flight never holds a caller past its own deadline), runs
// the call in its own goroutine so it is independent of any one caller,
// turns a panic in the call into an error for every caller instead of a
// crash or a hang, caps the callers waiting on one key, and can forget a
// key so that later callers start a fresh call (after an invalidation).
//
// It knows no HTTP; the value type is the caller's, and must be treated as
// read-only once returned, since every caller shares it.
package flight

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors returned by Do.
var (
	// ErrTooManyWaiters means MaxWaiters callers already wait on the key.
	ErrTooManyWaiters = errors.New("flight: too many waiters for one key")
	// ErrDeadline means the caller's deadline passed before the call ended.
	ErrDeadline = errors.New("flight: deadline exceeded while waiting")
)

// PanicError carries a panic raised by a call to every caller.
type PanicError struct{ Value any }

func (e *PanicError) Error() string { return fmt.Sprintf("flight: call panicked: %v", e.Value) }

// Group coalesces calls by key. The zero value is ready to use.
// It is safe for concurrent use.
type Group[V any] struct {
	// MaxWaiters caps the callers of one key, the first included.
	// Default 10,000.
	MaxWaiters int

	mu    sync.Mutex // guards calls
	calls map[string]*call[V]
}

type call[V any] struct {
	done    chan struct{}
	val     V
	err     error
	callers int // guarded by Group.mu
}

func (g *Group[V]) maxWaiters() int {
	if g.MaxWaiters <= 0 {
		return 10_000
	}
	return g.MaxWaiters
}

// Do returns the result of one call for key shared by all callers that
// arrive while it runs. Only the caller that starts the call runs start, in
// its own goroutine and before Do returns, so start may read the caller's
// request data and copy what the call needs; the function start returns
// then runs in a goroutine of its own and must bound its own duration.
// Each caller waits until the call ends or until its own deadline (zero:
// no deadline), whichever is first. shared reports whether this caller
// joined a call another caller started.
func (g *Group[V]) Do(key []byte, deadline time.Time, start func() func() (V, error)) (v V, err error, shared bool) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[string]*call[V])
	}
	c, ok := g.calls[string(key)]
	if ok {
		if c.callers >= g.maxWaiters() {
			g.mu.Unlock()
			return v, ErrTooManyWaiters, true
		}
		c.callers++
	} else {
		c = &call[V]{done: make(chan struct{}), callers: 1}
		k := string(key)
		g.calls[k] = c
		g.mu.Unlock()
		go g.run(k, c, prepare(start))
		g.mu.Lock()
	}
	g.mu.Unlock()
	v, err = wait(c, deadline)
	return v, err, ok
}

func wait[V any](c *call[V], deadline time.Time) (v V, err error) {
	if deadline.IsZero() {
		<-c.done
		return c.val, c.err
	}
	d := time.Until(deadline)
	if d <= 0 {
		return v, ErrDeadline
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
		return c.val, c.err
	case <-t.C:
		return v, ErrDeadline
	}
}

// prepare runs start for a new call; a panic in it fails the call like a
// panic in the call itself.
func prepare[V any](start func() func() (V, error)) (fn func() (V, error)) {
	defer func() {
		if p := recover(); p != nil {
			fn = func() (V, error) { panic(p) }
		}
	}()
	return start()
}

func (g *Group[V]) run(key string, c *call[V], fn func() (V, error)) {
	defer func() {
		if p := recover(); p != nil {
			c.err = &PanicError{Value: p}
		}
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
}

// Forget makes later callers of key start a new call instead of joining
// the one in progress, whose callers still get its result.
func (g *Group[V]) Forget(key []byte) {
	g.mu.Lock()
	delete(g.calls, string(key))
	g.mu.Unlock()
}

// InFlight returns the number of keys with a call in progress.
func (g *Group[V]) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}
