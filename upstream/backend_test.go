package upstream

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// backend is a real HTTP server on loopback whose behaviour a test
// changes while it runs: answer, fail every other request with a status,
// hang, or be killed and brought back on the same address.
type backend struct {
	t    *testing.T
	addr string

	requests atomic.Int64 // requests other than health probes
	probes   atomic.Int64 // GET /healthz
	failEven atomic.Int64 // status for every other request; 0: none
	failAll  atomic.Int64 // status for every request; 0: none
	hang     atomic.Bool
	release  chan struct{} // closed at cleanup: hung handlers return

	mu      sync.Mutex // guards srv and firstAt
	srv     *http.Server
	firstAt time.Time // first request served since firstSince
	since   time.Time
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{t: t, release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	b.serve(ln)
	t.Cleanup(func() {
		close(b.release)
		b.kill()
	})
	return b
}

func (b *backend) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(b.handle)}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck
}

func (b *backend) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		b.probes.Add(1)
		return
	}
	n := b.requests.Add(1)
	b.mu.Lock()
	if b.firstAt.IsZero() && !b.since.IsZero() {
		b.firstAt = time.Now()
	}
	b.mu.Unlock()
	if b.hang.Load() {
		select {
		case <-r.Context().Done():
		case <-b.release:
		}
		return
	}
	w.Header().Set("X-Got-Deadline", r.Header.Get("X-Request-Deadline"))
	if s := b.failAll.Load(); s != 0 {
		w.WriteHeader(int(s))
	} else if s := b.failEven.Load(); s != 0 && n%2 == 0 {
		w.WriteHeader(int(s))
	}
}

// kill closes the listener and every connection, like a crashed process.
func (b *backend) kill() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// revive listens again on the same address and starts timing the first
// request it serves.
func (b *backend) revive() {
	b.t.Helper()
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		b.t.Fatalf("listen again on %s: %v", b.addr, err)
	}
	b.mu.Lock()
	b.since, b.firstAt = time.Now(), time.Time{}
	b.mu.Unlock()
	b.serve(ln)
}

// firstRequestAfter returns how long after revive the first request came;
// 0 when none came yet.
func (b *backend) firstRequestAfter() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.firstAt.IsZero() {
		return 0
	}
	return b.firstAt.Sub(b.since)
}

// rawBackend accepts TCP connections and, per connection, reads one request
// and closes with a reset (or, with readFirst false, closes at once), never
// answering; it counts connections and requests read.
func rawBackend(t *testing.T, readFirst bool) (addr string, conns, requests *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns, requests = new(atomic.Int64), new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			if readFirst {
				c.SetReadDeadline(time.Now().Add(time.Second)) //nolint:errcheck
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					requests.Add(1)
				}
				c.(*net.TCPConn).SetLinger(0) //nolint:errcheck
			}
			c.Close()
		}
	}()
	return ln.Addr().String(), conns, requests
}

// call sends one request through p (Send when retry is set, else a single attempt)
// and returns the status (0 on error), the time it took and the error.
func call(p *Pool, method string, deadline time.Time, retry, idempotent bool) (int, time.Duration, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://backend/x")
	req.Header.SetMethod(method)
	start := time.Now()
	var err error
	if retry {
		err = p.Send(req, resp, deadline, idempotent)
	} else {
		err = p.attempt(req, resp, deadline)
	}
	took := time.Since(start)
	if err != nil {
		return 0, took, err
	}
	return resp.StatusCode(), took, nil
}

// load is the result of a run of steady traffic.
type load struct {
	mu     sync.Mutex
	sent   int
	errs   []time.Time // when each client-visible error (error or 5xx) ended
	maxDur time.Duration
}

func (l *load) count(status int, took time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
	if err != nil || status >= 500 {
		l.errs = append(l.errs, time.Now())
	}
	l.maxDur = max(l.maxDur, took)
}

func (l *load) snapshot() (sent, errs int, lastErr time.Time, maxDur time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) > 0 {
		lastErr = l.errs[len(l.errs)-1]
	}
	return l.sent, len(l.errs), lastErr, l.maxDur
}

// run sends GETs through p from workers goroutines, each pausing pause
// between requests, until stop is closed; wait for the returned channel.
func (l *load) run(p *Pool, workers int, pause time.Duration, retry bool, stop <-chan struct{}) <-chan struct{} {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.count(call(p, "GET", time.Time{}, retry, true))
				if pause > 0 {
					time.Sleep(pause)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

func pct(n, of int) string {
	if of == 0 {
		return "0%"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 2, 64) + "%"
}
