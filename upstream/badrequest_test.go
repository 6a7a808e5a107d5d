package upstream

import (
	"errors"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// A request the client library refuses to send (no Host anywhere, an
// https URI on a plain connection) is the sender's fault: 1,000 of them
// leave the target's breaker closed and its failure count at zero, and an
// ordinary request still goes through afterwards.
func TestUnsendableRequestsNeverEjectTheTarget(t *testing.T) {
	addr, _ := slowBackend(t, 0)
	p, err := newPool(Config{Name: "u", Targets: []string{addr},
		Outlier: Outlier{ConsecutiveFailures: 5, FailureRatio: 0.3, MinRequests: 20, Window: 10 * time.Second,
			BaseEjection: 30 * time.Second, MaxEjection: 30 * time.Second, HalfOpenProbes: 1}})
	if err != nil {
		t.Fatal(err)
	}
	bad := []func(*fasthttp.Request){
		func(r *fasthttp.Request) { r.SetRequestURI("https://backend/x") },
		func(r *fasthttp.Request) { r.SetRequestURI("/x") }, // no Host, no authority
	}
	for i := range 1000 {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		bad[i%len(bad)](req)
		err := p.Send(req, resp, time.Now().Add(time.Second), i%3 == 0)
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		if !errors.Is(err, ErrBadRequest) {
			t.Fatalf("request %d: got %v; want ErrBadRequest", i, err)
		}
	}
	tg := p.Targets()[0]
	if tg.Failures() != 0 || tg.Ejections() != 0 || tg.Breaker() != BreakerClosed {
		t.Fatalf("after 1000 unsendable requests: failures %d ejections %d breaker %v; want 0, 0, closed",
			tg.Failures(), tg.Ejections(), tg.Breaker())
	}
	if err := get(p, time.Time{}); err != nil {
		t.Fatalf("a good request after them: %v", err)
	}
}
