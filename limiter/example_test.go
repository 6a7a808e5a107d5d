package limiter_test

import (
	"fmt"
	"time"

	"shedgate/limiter"
)

func Example() {
	l, err := limiter.New(limiter.Config{
		InitialLimit: 20,
		Classes: []limiter.ClassConfig{
			{Name: "critical", MaxQueue: 2000, MaxWait: time.Second},
			{Name: "low", MaxQueue: 200, MaxWait: 100 * time.Millisecond},
		},
	})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	tok, reason := l.Acquire(0, 0, time.Now().Add(2*time.Second))
	if reason != limiter.ReasonNone {
		// 503 with Retry-After: l.RetryAfter(0) seconds.
		fmt.Println("rejected:", reason)
		return
	}
	start := time.Now()
	// ... call the backend ...
	tok.Release(time.Since(start), limiter.OutcomeOK) // OutcomeOverload on a timeout or 5xx
	fmt.Println("admitted")
	// Output: admitted
}

func ExampleKeyRate() {
	// A stopped clock, so that the figures do not depend on how fast the
	// loop runs; the gateway passes nothing and gets time.Now.
	t0 := time.Unix(1_700_000_000, 0)
	k := limiter.NewKeyRate(limiter.KeyRateConfig{Rate: 5, Per: time.Second, Burst: 2,
		Now: func() time.Time { return t0 }})
	const key = 0x51a4 // a hash of the route's key, e.g. xxhash.Sum64String(id)
	for range 3 {
		ok, retryAfter := k.Allow(key)
		fmt.Println(ok, retryAfter)
	}
	// Output:
	// true 0s
	// true 0s
	// false 200ms
}
