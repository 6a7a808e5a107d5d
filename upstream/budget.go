package upstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// budgetWindow is the recent period a retry budget counts over.
const budgetWindow = 10 * time.Second

// budget is a retry budget in the manner of Finagle's RetryBudget and
// Envoy's retry budgets: every request (first attempts, retried or not)
// deposits BudgetRatio of a token, every retry withdraws one, and a
// reserve of MinPerSecond × budgetWindow tokens lets a quiet upstream
// retry at all. Deposits and withdrawals older than budgetWindow expire, so
// retries never exceed BudgetRatio of the requests of the last 10 seconds
// plus the reserve: retries cannot amplify an overload.
//
// Deposits are lock-free; a withdrawal takes mu so that two retries cannot
// spend the same token. Moments are nanoseconds since epoch on the pool's
// clock, and the ratio and floor are the calling pool's. A pool rebuilt by
// NewPoolFrom shares its predecessor's budget, history and counters.
type budget struct {
	win     window // events: requests; flagged: retries
	retries atomic.Uint64
	refused atomic.Uint64
	// unavailable counts calls turned away because no target was
	// available; kept here so that it, too, survives reloads.
	unavailable atomic.Uint64
	panics      atomic.Uint64 // requests sent past every breaker (see panicPick)

	mu sync.Mutex // makes withdraw's check-and-take atomic
}

// budgetWidth is the span of one bucket of the budget's window.
const budgetWidth = budgetWindow / windowBuckets

// deposit counts one request at now.
func (b *budget) deposit(now int64) {
	b.win.bucket(now, budgetWidth).events.Add(1)
}

// withdraw takes one token for a retry at now, under the ratio and floor
// of r, and reports whether there was one; it counts the retry or the
// refusal.
func (b *budget) withdraw(now int64, r *Retry) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.leftLocked(now, r) < 1 {
		b.refused.Add(1)
		return false
	}
	b.win.bucket(now, budgetWidth).flagged.Add(1)
	b.retries.Add(1)
	return true
}

// left returns the tokens the budget holds at now under the ratio and
// floor of r: how many retries it would allow at once.
func (b *budget) left(now int64, r *Retry) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.leftLocked(now, r)
}

func (b *budget) leftLocked(now int64, r *Retry) float64 {
	requests, retries := b.win.sums(now, budgetWidth)
	left := r.budgetRatio()*float64(requests) + r.minPerSecond()*budgetWindow.Seconds() - float64(retries)
	return max(left, 0)
}
