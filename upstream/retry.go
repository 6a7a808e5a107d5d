package upstream

import (
	"time"

	"github.com/valyala/fasthttp"
)

// Retry configures Send's retries.
type Retry struct {
	// Attempts is the most tries of one request, the first included.
	// Default 2 (one retry); 1 turns retries off.
	Attempts int
	// BudgetRatio caps retries at this share of the requests of the last
	// 10 seconds (first attempts, retried or not), on top of the
	// MinPerSecond reserve. Default 0.1.
	BudgetRatio float64
	// MinPerSecond is the retry budget's floor: a reserve of
	// MinPerSecond × 10 retries per 10 seconds that a quiet upstream may
	// spend whatever its traffic. Default 3.
	MinPerSecond float64
}

func (r *Retry) attempts() int { return orDefault(r.Attempts, DefaultAttempts) }

func (r *Retry) budgetRatio() float64 { return orDefault(r.BudgetRatio, DefaultBudgetRatio) }

func (r *Retry) minPerSecond() float64 { return orDefault(r.MinPerSecond, DefaultMinRetriesPerSecond) }

// Send sends req to the least-pending available target and reads the
// answer into resp; each attempt ends at the earlier of deadline and
// now+Timeout, and its answer, whatever its status, feeds the target's
// outlier detection. When idempotent is true Send tries req again (on
// another target when one is available) after an attempt that got no
// answer because the connection failed or was closed or reset before any
// answer byte, or that got a 502, 503 or 504 from the backend. It never
// retries a timeout, a broken answer or any other status, never starts an
// attempt at or past deadline (a zero deadline means now+Timeout for the
// whole call), makes at most Retry.Attempts tries and retries only while
// the retry budget holds a token. When idempotent is false the request
// reaches the backend at most once, and it goes to a target on trial
// (breaker open or half-open) or failing lately (a tenth of at least 5
// requests in the outlier window) only when no other target can take it,
// or one time in 64 so that such a target still gets its trials.
//
// When a retry is not allowed, resp and the error are those of the last
// attempt: a 503 answer stays a 503 answer (nil error). When no target is
// available for the first attempt it returns ErrUnavailable at once. req
// and resp stay owned by the caller; each attempt sets the deadline header
// on req when one is configured.
func (p *Pool) Send(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, idempotent bool) error {
	return p.send(req, resp, deadline, idempotent, !idempotent)
}

// send is Send; retry allows retries, and a wary request avoids suspect
// targets (see below). The tests also send single plain attempts (both
// false).
func (p *Pool) send(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time, retry, wary bool) error {
	start := time.Now()
	if deadline.IsZero() {
		deadline = start.Add(p.timeout)
	}
	if !start.Before(deadline) {
		return ErrTimeout
	}
	now := p.now()
	p.budget.deposit(now)
	var avoid uint64
	if wary {
		// A request that must not be sent twice goes to a target on trial
		// or failing lately only when no other can take it: its failure
		// could not be retried. (Measured: at 50% 503s from one target,
		// check-ins were a third of the traffic and most of the failures
		// clients saw.) One in trialShare (64) still does, so that a target
		// behind only such traffic gets its trials.
		avoid = p.suspects(now)
	}
	var err error
	for try := 1; ; try++ {
		i, probe := p.pick(avoid, now)
		if i < 0 {
			if try == 1 {
				p.budget.unavailable.Add(1)
				return ErrUnavailable
			}
			return err
		}
		t := p.targets[i]
		if try > 1 && !p.budget.withdraw(now, &p.retry) {
			t.br.cancel(probe)
			return err
		}
		var o outcome
		o, err = t.attempt(req, resp, earlier(deadline, time.Now().Add(p.timeout)), p.header)
		if o == outcomeRequest {
			// Neither a success nor a failure of the target: a client
			// must not be able to move its breaker either way.
			t.br.cancel(probe)
			return err
		}
		now = p.now()
		t.br.finish(now, o.failed(), probe, &p.outlier)
		if !retry || try >= p.attempts || !retryAfter(o, resp) || !time.Now().Before(deadline) {
			return err
		}
		avoid |= bit(i)
	}
}

// retryAfter reports whether an idempotent request may be tried again
// after an attempt with outcome o and answer resp.
func retryAfter(o outcome, resp *fasthttp.Response) bool {
	if o == outcome5xx {
		switch resp.StatusCode() {
		case fasthttp.StatusBadGateway, fasthttp.StatusServiceUnavailable, fasthttp.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return o.retryable()
}

// earlier returns the earlier of a and b.
func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
