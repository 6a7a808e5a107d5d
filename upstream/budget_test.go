package upstream

import (
	"testing"
	"time"
)

func TestBudgetRatioOfRecentRequests(t *testing.T) {
	var b budget
	r := &Retry{BudgetRatio: 0.1, MinPerSecond: 0.1} // reserve: 1 retry per 10s
	now := ms(0)
	if got := b.left(now, r); got != 1 {
		t.Fatalf("empty budget holds %v; want the reserve, 1", got)
	}
	for range 100 {
		b.deposit(now)
	}
	granted := 0
	for b.withdraw(now, r) {
		granted++
	}
	if granted != 11 || b.retries.Load() != 11 || b.refused.Load() != 1 {
		t.Fatalf("100 requests: %d retries granted (%d counted, %d refused); want 10%% + the reserve = 11, 1 refused",
			granted, b.retries.Load(), b.refused.Load())
	}
	// Ten seconds later the old requests and retries have expired.
	now += ms(10_000)
	if got := b.left(now, r); got != 1 {
		t.Fatalf("budget after the window: %v; want the reserve, 1", got)
	}
}

func TestBudgetSteadyState(t *testing.T) {
	var b budget
	r := &Retry{BudgetRatio: 0.1, MinPerSecond: 3}
	// 1000 requests per second for 30 s, each one wanting a retry: the
	// budget grants at most 10% of the last 10 s plus the 30-token reserve.
	clock := int64(0)
	granted := 0
	for range 30_000 {
		clock += ms(1)
		b.deposit(clock)
		if b.withdraw(clock, r) {
			granted++
		}
	}
	max := int(0.1*30_000) + 3*30 // 10% plus the reserve refilled every 10 s
	if granted > max || granted < 3000 {
		t.Fatalf("granted %d retries for 30000 requests; want about 10%% (3000..%d)", granted, max)
	}
	t.Logf("30000 requests each wanting a retry: %d granted (%.1f%%), %d refused", granted, 100*float64(granted)/30000, b.refused.Load())
}

func TestBudgetKeptAcrossReload(t *testing.T) {
	prev, _ := newPool(Config{Name: "u", Targets: []string{"127.0.0.1:1"}, Retry: Retry{BudgetRatio: 0.5}})
	for range 10 {
		prev.budget.deposit(prev.now())
	}
	prev.budget.withdraw(prev.now(), &prev.retry)
	next, _ := NewPoolFrom(prev, Config{Name: "u", Targets: []string{"127.0.0.1:1"}, Retry: Retry{BudgetRatio: 0.2}})
	if next.Retries() != 1 {
		t.Fatalf("after reload: %d retries; want the counters kept (1)", next.Retries())
	}
	if got := next.RetryBudget(); got < 30.9 || got > 31.1 {
		t.Fatalf("new pool's budget left %v; want its ratio on the kept history: 0.2 x 10 + 30 - 1 = 31", got)
	}
	if got := prev.RetryBudget(); got < 33.9 || got > 34.1 {
		t.Fatalf("old pool's budget left %v; want its own ratio, untouched by the new config: 0.5 x 10 + 30 - 1 = 34", got)
	}
}

func TestRetryDefaults(t *testing.T) {
	var r Retry
	if r.attempts() != 2 || r.budgetRatio() != 0.1 || r.minPerSecond() != 3 {
		t.Fatalf("zero Retry: %d attempts, ratio %v, floor %v; want 2, 0.1, 3", r.attempts(), r.budgetRatio(), r.minPerSecond())
	}
	var h Health
	if h.interval() != time.Second || h.timeout() != 500*time.Millisecond || h.healthyAfter() != 2 || h.unhealthyAfter() != 2 {
		t.Fatalf("zero Health: %v %v %d %d; want 1s 500ms 2 2", h.interval(), h.timeout(), h.healthyAfter(), h.unhealthyAfter())
	}
	var o Outlier
	if o.enabled() || o.minRequests() != 20 || o.window() != 10*time.Second || o.baseEjection() != time.Second ||
		o.maxEjection() != 30*time.Second || o.halfOpenProbes() != 3 {
		t.Fatalf("zero Outlier: %+v; want off, 20, 10s, 1s, 30s, 3", o)
	}
}
