package gateway

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/valyala/fasthttp"

	"shedgate/configs"
	"shedgate/limiter"
	"shedgate/upstream"
)

// errShed is a rejection by admission: the request never reached the
// backend (the limiter counts why, by reason). A flight's waiters get it
// as its starter did.
var errShed = errors.New("gateway: shed by admission")

// maxRetryAfter bounds Retry-After; the limiter clamps to [1, 60] s.
const maxRetryAfter = 60

// retryAfterValues are the Retry-After header values "0".."60", built once.
var retryAfterValues = func() (v [maxRetryAfter + 1][]byte) {
	for i := range v {
		v[i] = strconv.AppendInt(nil, int64(i), 10)
	}
	return v
}()

// rejectBodies holds a route's rejection bodies for every Retry-After, so
// that a rejection writes prebuilt bytes.
type rejectBodies struct {
	busy    [maxRetryAfter + 1][]byte // 503: admission shed the request
	tooFast [maxRetryAfter + 1][]byte // 429: the key is over its per_key rate
}

func newRejectBodies(class string) *rejectBodies {
	b := &rejectBodies{}
	q := strconv.Quote(class)
	for n := range b.busy {
		s := strconv.Itoa(n)
		b.busy[n] = []byte(`{"error":"busy: the backend is at capacity, retry later","retry_after_s":` + s + `,"class":` + q + `}`)
		b.tooFast[n] = []byte(`{"error":"too many requests for this key, slow down","retry_after_s":` + s + `,"class":` + q + `}`)
	}
	return b
}

func clampRetryAfter(n int) int {
	return min(max(n, 1), maxRetryAfter)
}

// secondsCeil rounds d up to whole seconds.
func secondsCeil(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// admit takes a backend slot for rt's class, waiting in its queue at most
// until deadline or the class's max_wait; user is the request's user hash
// (see userHash). The error is errShed.
func (g *Gateway) admit(rt *route, user uint64, deadline time.Time) (limiter.Token, error) {
	tok, reason := g.limiter.Acquire(rt.classIdx, user, deadline)
	if reason != limiter.ReasonNone {
		return tok, errShed
	}
	return tok, nil
}

// userHash is the user priority the admission level sheds by within a
// class (DAGOR): the hash of the request's key, so that in a surge the same
// residents are served or turned away each time rather than everyone
// failing a share of their attempts; a request with no key draws one at
// random.
func userHash(key []byte) uint64 {
	if len(key) == 0 {
		return rand.Uint64()
	}
	return xxhash.Sum64(key)
}

// doAdmitted sends req under an admitted token, retrying only if the route
// is idempotent (and within the upstream's retry budget), and feeds the
// round trip and its outcome back to the adaptive limit; up gets, for the
// access log, the wait from the request's arrival (deadline less the
// route's timeout: no clock read of its own), the target that answered
// and the round trip.
func (g *Gateway) doAdmitted(tok limiter.Token, rt *route, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, up *upstreamInfo) error {
	start := time.Now()
	up.queue = start.Sub(deadline.Add(-rt.attemptTimeout()))
	err := rt.pool.Send(req, resp, deadline, rt.retrySafe(&req.Header))
	up.rtt = time.Since(start)
	up.target = resp.RemoteAddr()
	tm := upstream.Timing{RTT: up.rtt}
	if err == nil { // an answer: TimingOf counts it as timed one way or the other
		tm = upstream.TimingOf(resp, up.rtt)
	}
	tok.ReleaseTimed(tm.RTT, tm.Local, outcomeOf(err, resp.StatusCode()))
	return err
}

// upstreamInfo is what the access log says of a request's way to the
// backend: the wait from arrival to admission, the target that answered
// and the round trip; for a coalesced waiter, the trace id of the request
// whose fetch it shared.
type upstreamInfo struct {
	queue, rtt  time.Duration
	target      net.Addr // nil: no answer from a target
	leaderTrace []byte
}

// outcomeOf tells the controller what a backend call says about load: a
// timeout is overload; an error answer (5xx), a refused connection or a
// broken answer says nothing about it, since a backend failing requests
// for reasons of its own is not a queue (its queueing shows in the
// latency of the answers it gives: TestErrorsAreNotOverload); the rest is
// a good sample.
func outcomeOf(err error, status int) limiter.Outcome {
	switch {
	case errors.Is(err, upstream.ErrTimeout):
		return limiter.OutcomeOverload
	case err != nil, status >= 500:
		return limiter.OutcomeIgnore
	default:
		return limiter.OutcomeOK
	}
}

// reject answers a request that admission or its key's rate turned away:
// a stale copy when one exists (X-Cache: STALE), else status (503 or 429)
// with Retry-After: retrySecs (clamped to [1, 60]) and a small JSON body.
// It allocates nothing.
func (g *Gateway) reject(ctx *fasthttp.RequestCtx, rt *route, sc *scratch, status, retrySecs int) {
	sc.rejected = true
	if g.serveStale(ctx, sc) {
		return
	}
	n := clampRetryAfter(retrySecs)
	body := rt.rejects.busy[n]
	if status == fasthttp.StatusTooManyRequests {
		body = rt.rejects.tooFast[n]
	}
	writeJSONError(ctx, status, body)
	ctx.Response.Header.SetBytesV("Retry-After", retryAfterValues[n])
}

// limiterConfig turns the config's limiter section into the limiter's.
func limiterConfig(c *configs.Limiter) limiter.Config {
	lc := limiter.Config{InitialLimit: c.InitialLimit, MinLimit: c.MinLimit, MaxLimit: c.MaxLimit}
	for _, k := range c.Classes {
		lc.Classes = append(lc.Classes, limiter.ClassConfig{Name: k.Name, MaxQueue: k.MaxQueue, MaxWait: k.MaxWait, Bulk: k.Bulk})
	}
	return lc
}

// keyRate returns the per-key buckets for rc: prev's when the route had the
// same rate before a reload (so buckets carry over), else new ones; nil
// when the route has no per_key.
func keyRate(rc *configs.Route, prev *route) *limiter.KeyRate {
	if rc.PerKey == nil {
		return nil
	}
	if prev != nil && prev.perKey != nil && prev.cfg.PerKey != nil && *prev.cfg.PerKey == *rc.PerKey {
		return prev.perKey
	}
	return limiter.NewKeyRate(limiter.KeyRateConfig{Rate: rc.PerKey.Rate, Per: rc.PerKey.Per, Burst: rc.PerKey.Burst})
}
