package sharedcache_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"shedgate/internal/proctest"
	"shedgate/internal/wait"
	"shedgate/sharedcache"
)

// keys collects what a Store's OnInvalidate receives.
type keys struct {
	mu  sync.Mutex
	got map[string]int
}

func (k *keys) add(key []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.got == nil {
		k.got = map[string]int{}
	}
	k.got[string(key)]++
}

func (k *keys) has(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.got[key] > 0
}

func open(t *testing.T, addr string, inv *keys) *sharedcache.Store {
	t.Helper()
	cfg := sharedcache.Config{Addrs: []string{addr}, Timeout: 100 * time.Millisecond,
		Failures: 3, OpenFor: 200 * time.Millisecond, LocalTTL: time.Second}
	if inv != nil {
		cfg.OnInvalidate = inv.add
	}
	s, err := sharedcache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	wait.For(t, 10*time.Second, "subscribed to invalidations", func() bool { return s.Stats().Subscribed })
	return s
}

func TestFillThenGet(t *testing.T) {
	r := proctest.StartRedis(t)
	a, b := open(t, r.Addr, nil), open(t, r.Addr, nil)
	key := []byte("show\x00110101199003071234")
	f, err := a.Get(key, true)
	if err != nil || f.Val != nil || f.Gen != "" || f.Demand != 1 {
		t.Fatalf("Get on an empty Redis = %+v, %v; want a miss with generation \"\" and demand 1", f, err)
	}
	if err := a.Fill(key, []byte("code-1"), f.Gen, time.Minute); err != nil {
		t.Fatalf("Fill: %v", err)
	}
	if f, err := b.Get(key, true); err != nil || string(f.Val) != "code-1" || f.Demand != 2 {
		t.Fatalf("another process's Get = %+v, %v; want code-1, demand 2 (both lookups counted)", f, err)
	}
	if s := b.Stats(); s.Hits != 1 || s.Misses != 0 {
		t.Fatalf("b's stats: %+v; want 1 hit", s)
	}
	if f, err := b.Get(key, false); err != nil || string(f.Val) != "code-1" || f.Demand != 2 {
		t.Fatalf("an uncounted Get = %+v, %v; want code-1, demand still 2", f, err)
	}
	if ttl, err := r.Do("PTTL", "shedgate:c:{"+string(key)+"}"); err != nil || ttl < ":59000" || ttl > ":60000" {
		t.Fatalf("PTTL of the entry = %q, %v; want about 60000 ms", ttl, err)
	}
}

func TestInvalidateReachesEveryProcessAndRefusesAnOlderFill(t *testing.T) {
	r := proctest.StartRedis(t)
	var heardA, heardB keys
	a, b := open(t, r.Addr, &heardA), open(t, r.Addr, &heardB)
	key := []byte("show\x00k1")
	if err := a.Fill(key, []byte("old"), "", time.Minute); err != nil {
		t.Fatal(err)
	}
	// b starts a fetch: its lookup sees the entry and the generation.
	fb, err := b.Get(key, true)
	genB := fb.Gen
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Invalidate(key); err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	wait.For(t, 5*time.Second, "both processes hear the invalidation", func() bool {
		return heardA.has(string(key)) && heardB.has(string(key))
	})
	if f, _ := b.Get(key, true); f.Val != nil {
		t.Fatalf("after Invalidate, Get = %q; want a miss", f.Val)
	}
	// b's fetch, begun before the invalidation, must not put its answer back.
	if err := b.Fill(key, []byte("old"), genB, time.Minute); !errors.Is(err, sharedcache.ErrInvalidated) {
		t.Fatalf("Fill with the generation from before the invalidation: %v; want ErrInvalidated", err)
	}
	f, _ := b.Get(key, true)
	if f.Val != nil || f.Gen == genB {
		t.Fatalf("after a refused fill Get = %q gen %q (was %q); want a miss and a new generation", f.Val, f.Gen, genB)
	}
	if err := b.Fill(key, []byte("new"), f.Gen, time.Minute); err != nil {
		t.Fatalf("Fill with the current generation: %v", err)
	}
	if f, _ := a.Get(key, true); string(f.Val) != "new" {
		t.Fatalf("Get = %q; want new", f.Val)
	}
	if s := b.Stats(); s.FillsRefused != 1 || s.Fills != 1 || s.InvalidationsReceived < 1 {
		t.Fatalf("b's stats: %+v", s)
	}
}

func TestRedisDownMissesAtOnceAndInvalidationsWait(t *testing.T) {
	r := proctest.StartRedis(t)
	var heardB keys
	a, b := open(t, r.Addr, nil), open(t, r.Addr, &heardB)
	key := []byte("show\x00k2")
	if err := a.Fill(key, []byte("v"), "", time.Minute); err != nil {
		t.Fatal(err)
	}
	storedBefore := time.Now().UnixNano()
	if !a.Trusted(storedBefore, time.Now()) {
		t.Fatal("an entry stored while subscribed is not trusted")
	}
	r.Kill()
	wait.For(t, 5*time.Second, "the subscription is seen lost", func() bool { return !a.Stats().Subscribed })

	// Calls fail, then the breaker answers without calling Redis.
	for i := 0; i < 10; i++ {
		if _, err := a.Get(key, true); err == nil {
			t.Fatalf("Get %d with Redis down: no error", i)
		}
	}
	s := a.Stats()
	if s.BreakerOpens == 0 || s.Unavailable == 0 {
		t.Fatalf("stats after 10 failing calls: %+v; want the breaker opened and calls refused", s)
	}
	// Local entries are trusted for LocalTTL (1s) past the loss, no longer.
	now := time.Now()
	if !a.Trusted(storedBefore, now) || a.Trusted(storedBefore, now.Add(2*time.Second)) {
		t.Fatal("while down, an entry from before must be trusted for LocalTTL and not after")
	}
	if err := a.Invalidate(key); err == nil {
		t.Fatal("Invalidate with Redis down: no error")
	}
	if s := a.Stats(); s.InvalidationsPending != 1 {
		t.Fatalf("pending invalidations = %d; want 1", s.InvalidationsPending)
	}

	r.Restart()
	wait.For(t, 10*time.Second, "both resubscribe", func() bool {
		return a.Stats().Subscribed && b.Stats().Subscribed
	})
	wait.For(t, 10*time.Second, "the kept invalidation reaches b", func() bool { return heardB.has(string(key)) })
	// b can hear the publish before a's call returns and a counts it sent.
	wait.For(t, 5*time.Second, "a counts its kept invalidation sent", func() bool {
		s := a.Stats()
		return s.InvalidationsPending == 0 && s.InvalidationsSent == 1
	})
	if s := a.Stats(); s.Resubscribes == 0 {
		t.Fatalf("a's stats after Redis came back: %+v; want a resubscription counted", s)
	}
	// An entry from before the gap is no longer trusted; a new one is.
	if a.Trusted(storedBefore, time.Now()) {
		t.Fatal("an entry stored before the gap is still trusted after it")
	}
	if !a.Trusted(time.Now().UnixNano(), time.Now()) {
		t.Fatal("an entry stored after the resubscription is not trusted")
	}
	wait.For(t, 5*time.Second, "the breaker closes", func() bool {
		_, err := a.Get(key, true)
		return err == nil
	})
}

func TestRedisPausedCallsEndWithinTheTimeout(t *testing.T) {
	r := proctest.StartRedis(t)
	a := open(t, r.Addr, nil)
	r.Pause()
	defer r.Resume()
	for i := 0; i < 5; i++ {
		start := time.Now()
		_, err := a.Get([]byte("k"), true)
		if err == nil {
			t.Fatalf("Get %d on a paused Redis: no error", i)
		}
		// The timeout is 100ms; a second is only a bound against hanging.
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Get %d on a paused Redis took %v", i, d)
		}
	}
	if s := a.Stats(); s.BreakerOpens != 1 || s.Unavailable < 2 {
		t.Fatalf("stats: %+v; want the breaker open after 3 timeouts", s)
	}
}
