package upstream

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// slowBackend serves on loopback, holding each request for hold, and
// records the most connections it ever had open at once.
func slowBackend(t *testing.T, hold time.Duration) (addr string, maxConns *atomic.Int32) {
	t.Helper()
	var open atomic.Int32
	maxConns = new(atomic.Int32)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(hold) }),
		ConnState: func(c net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				n := open.Add(1)
				for m := maxConns.Load(); n > m && !maxConns.CompareAndSwap(m, n); m = maxConns.Load() {
				}
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), maxConns
}

func get(p *Pool, deadline time.Time) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://backend/x")
	return p.attempt(req, resp, deadline)
}

func TestMaxConnsPerTargetIsAHardCap(t *testing.T) {
	addr, maxConns := slowBackend(t, 50*time.Millisecond)
	p, _ := newPool(Config{Name: "u", Targets: []string{addr}, MaxConnsPerTarget: 3, Timeout: 5 * time.Second})
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := get(p, time.Time{}); err != nil {
				t.Errorf("request: %v", err)
			}
		}()
	}
	wg.Wait()
	if m := maxConns.Load(); m > 3 || m == 0 {
		t.Fatalf("backend saw up to %d connections; want at most max_conns_per_target 3", m)
	}
}

func TestAttemptTimeoutAndDeadline(t *testing.T) {
	addr, _ := slowBackend(t, time.Second)
	p, _ := newPool(Config{Name: "u", Targets: []string{addr}, Timeout: 100 * time.Millisecond})
	start := time.Now()
	if err := get(p, time.Time{}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("slow backend: %v; want ErrTimeout", err)
	}
	if took := time.Since(start); took < 90*time.Millisecond || took > 600*time.Millisecond {
		t.Fatalf("timed out after %v; want about the 100ms timeout", took)
	}
	start = time.Now()
	if err := get(p, time.Now().Add(30*time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("earlier deadline: %v; want ErrTimeout", err)
	}
	if took := time.Since(start); took > 90*time.Millisecond {
		t.Fatalf("an earlier deadline took %v; want it to bound the attempt (30ms)", took)
	}
}

func TestRefusedIsUnavailable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p, _ := newPool(Config{Name: "u", Targets: []string{addr}})
	if err := get(p, time.Time{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("refused connection: %v; want ErrUnavailable", err)
	}
}
