package flight

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDoCoalesces(t *testing.T) {
	var g Group[int]
	var calls atomic.Int32
	release := make(chan struct{})
	const n = 1000
	var wg sync.WaitGroup
	results := make([]int, n)
	var sharedCount atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err, shared := g.Do([]byte("k"), time.Now().Add(10*time.Second), ready(func() (int, error) {
				calls.Add(1)
				<-release
				return 42, nil
			}))
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
			if shared {
				sharedCount.Add(1)
			}
			results[i] = v
		}()
	}
	for g.waiting("k") < n {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if c := calls.Load(); c != 1 {
		t.Fatalf("fn ran %d times; want 1", c)
	}
	if s := sharedCount.Load(); s != n-1 {
		t.Fatalf("%d callers shared; want %d", s, n-1)
	}
	for i, v := range results {
		if v != 42 {
			t.Fatalf("caller %d got %d; want 42", i, v)
		}
	}
}

// waiting returns the callers on key's call, for tests.
func (g *Group[V]) waiting(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.calls[key]; c != nil {
		return c.callers
	}
	return 0
}

func TestEachCallerKeepsItsOwnDeadline(t *testing.T) {
	var g Group[string]
	release := make(chan struct{})
	fn := func() (string, error) { <-release; return "done", nil }
	slowDone := make(chan error, 1)
	go func() {
		_, err, _ := g.Do([]byte("k"), time.Time{}, ready(fn))
		slowDone <- err
	}()
	for g.waiting("k") < 1 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	_, err, shared := g.Do([]byte("k"), time.Now().Add(50*time.Millisecond), ready(fn))
	if !errors.Is(err, ErrDeadline) || !shared {
		t.Fatalf("impatient caller: err %v shared %v; want ErrDeadline, shared", err, shared)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("impatient caller waited %v past its 50ms deadline", took)
	}
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatalf("patient caller: %v; want the call's result", err)
	}
	if _, err, _ := g.Do([]byte("x"), time.Now().Add(-time.Second), ready(fn)); !errors.Is(err, ErrDeadline) {
		t.Fatalf("caller past its deadline: %v; want ErrDeadline", err)
	}
}

func TestPanicReachesEveryCaller(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	const n = 10
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err, _ := g.Do([]byte("k"), time.Now().Add(5*time.Second), ready(func() (int, error) {
				<-release
				panic("backend exploded")
			}))
			errs <- err
		}()
	}
	for g.waiting("k") < n {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range n {
		var pe *PanicError
		if err := <-errs; !errors.As(err, &pe) || pe.Value != "backend exploded" {
			t.Fatalf("caller got %v; want a PanicError with the panic value", err)
		}
	}
	if g.InFlight() != 0 {
		t.Fatalf("%d calls left in flight after a panic; want 0", g.InFlight())
	}
}

func TestWaitersCapped(t *testing.T) {
	g := Group[int]{MaxWaiters: 3}
	release := make(chan struct{})
	fn := func() (int, error) { <-release; return 1, nil }
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); g.Do([]byte("k"), time.Time{}, ready(fn)) }() //nolint:errcheck
	}
	for g.waiting("k") < 3 {
		time.Sleep(time.Millisecond)
	}
	if _, err, _ := g.Do([]byte("k"), time.Time{}, ready(fn)); !errors.Is(err, ErrTooManyWaiters) {
		t.Fatalf("fourth caller: %v; want ErrTooManyWaiters", err)
	}
	if _, err, _ := g.Do([]byte("other"), time.Now().Add(time.Second), ready(func() (int, error) { return 2, nil })); err != nil {
		t.Fatalf("another key: %v; want no cap", err)
	}
	close(release)
	wg.Wait()
}

func TestForgetStartsAFreshCall(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	oldDone := make(chan int, 1)
	go func() {
		v, _, _ := g.Do([]byte("k"), time.Time{}, ready(func() (int, error) { <-release; return 1, nil }))
		oldDone <- v
	}()
	for g.waiting("k") < 1 {
		time.Sleep(time.Millisecond)
	}
	g.Forget([]byte("k"))
	v, err, shared := g.Do([]byte("k"), time.Now().Add(time.Second), ready(func() (int, error) { return 2, nil }))
	if v != 2 || err != nil || shared {
		t.Fatalf("after Forget: %v %v shared=%v; want a fresh call returning 2", v, err, shared)
	}
	close(release)
	if v := <-oldDone; v != 1 {
		t.Fatalf("caller of the forgotten call got %d; want its result 1", v)
	}
}

// ready wraps fn as a start function that prepares nothing.
func ready[V any](fn func() (V, error)) func() func() (V, error) {
	return func() func() (V, error) { return fn }
}

func TestPanicInStartFailsTheCall(t *testing.T) {
	var g Group[int]
	_, err, _ := g.Do([]byte("k"), time.Now().Add(time.Second), func() func() (int, error) { panic("bad request copy") })
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("panic in start: %v; want a PanicError", err)
	}
}
