package upstream

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// fastBackend serves 200 "ok" with fasthttp on loopback.
func fastBackend(b testing.TB) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	go srv.Serve(ln)                     //nolint:errcheck
	b.Cleanup(func() { srv.Shutdown() }) //nolint:errcheck
	return ln.Addr().String()
}

// protected is the shipped config's protections.
var protected = Config{
	Timeout:        time.Second,
	Outlier:        Outlier{ConsecutiveFailures: 5, FailureRatio: 0.5},
	Retry:          Retry{Attempts: 2},
	DeadlineHeader: DefaultDeadlineHeader,
}

// BenchmarkPick measures selection alone: availability, least pending and
// the breaker's admission among four closed targets.
func BenchmarkPick(b *testing.B) {
	cfg := protected
	cfg.Targets = []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"}
	p, _ := newPool(cfg)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := p.now()
			i, probe := p.pick(0, now)
			p.targets[i].br.finish(now, false, probe, &p.outlier)
		}
	})
}

// BenchmarkDo measures single attempts and Send, all protections on, against a
// fasthttp backend on loopback, next to the bare HostClient they wrap.
func BenchmarkDo(b *testing.B) {
	addr := fastBackend(b)
	cfg := protected
	cfg.Targets = []string{addr}
	p, _ := newPool(cfg)
	run := func(b *testing.B, do func(req *fasthttp.Request, resp *fasthttp.Response) error) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://backend/x")
			for pb.Next() {
				if err := do(req, resp); err != nil || resp.StatusCode() != 200 {
					b.Errorf("status %d, %v", resp.StatusCode(), err)
					return
				}
			}
		})
	}
	b.Run("client", func(b *testing.B) {
		c := p.targets[0].client
		run(b, func(req *fasthttp.Request, resp *fasthttp.Response) error {
			return c.DoDeadline(req, resp, time.Now().Add(time.Second))
		})
	})
	b.Run("attempt", func(b *testing.B) {
		run(b, func(req *fasthttp.Request, resp *fasthttp.Response) error { return p.attempt(req, resp, time.Time{}) })
	})
	b.Run("Send", func(b *testing.B) {
		run(b, func(req *fasthttp.Request, resp *fasthttp.Response) error {
			return p.Send(req, resp, time.Time{}, true)
		})
	})
}

// TestDoAllocatesNothing guards the request path: a Send with every
// protection on allocates nothing once connections are warm (the fasthttp
// backend in the same process allocates nothing either), and neither does
// an ErrUnavailable answer.
func TestDoAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items: allocation counts mean nothing")
	}
	cfg := protected
	cfg.Targets = []string{fastBackend(t)}
	p, _ := newPool(cfg)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://backend/x")
	for range 10 {
		if err := p.Send(req, resp, time.Time{}, true); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { p.Send(req, resp, time.Time{}, true) }); n != 0 { //nolint:errcheck
		t.Fatalf("Send allocates %v times a call; want 0", n)
	}
	p.targets[0].healthy.Store(false)
	if n := testing.AllocsPerRun(100, func() { p.Send(req, resp, time.Time{}, true) }); n != 0 { //nolint:errcheck
		t.Fatalf("ErrUnavailable allocates %v times a call; want 0", n)
	}
}
