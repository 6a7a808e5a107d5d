package limiter

import (
	"sync"
	"testing"
	"time"
)

func newTestKeyRate(cfg KeyRateConfig) (*KeyRate, *fakeClock) {
	clk := newFakeClock()
	cfg.Now = clk.Now
	return NewKeyRate(cfg), clk
}

func TestKeyRateBucket(t *testing.T) {
	k, clk := newTestKeyRate(KeyRateConfig{Rate: 5, Per: time.Second, Burst: 10})
	f := func(key uint64, wantOK bool, wantWait time.Duration) {
		t.Helper()
		ok, wait := k.Allow(key)
		if ok != wantOK || wait != wantWait {
			t.Errorf("Allow(%d): got %v, %v; want %v, %v", key, ok, wait, wantOK, wantWait)
		}
	}
	for range 10 {
		f(1, true, 0) // a new key starts with a full bucket
	}
	f(1, false, 200*time.Millisecond)
	f(2, true, 0) // other keys are unaffected
	clk.Advance(100 * time.Millisecond)
	f(1, false, 100*time.Millisecond)
	clk.Advance(100 * time.Millisecond)
	f(1, true, 0)
	f(1, false, 200*time.Millisecond)
	clk.Advance(time.Hour) // refills to the burst, not beyond
	for range 10 {
		f(1, true, 0)
	}
	f(1, false, 200*time.Millisecond)
}

func TestKeyRateDefaults(t *testing.T) {
	k, _ := newTestKeyRate(KeyRateConfig{Rate: 2.5})
	n := 0
	for range 10 {
		if ok, _ := k.Allow(7); ok {
			n++
		}
	}
	if n != 3 {
		t.Errorf("rate 2.5/s, default burst: got %d at once; want 3", n)
	}
	if ok, wait := NewKeyRate(KeyRateConfig{}).Allow(7); !ok || wait != 0 {
		t.Errorf("rate 0: got %v, %v; want true, 0 (no limit)", ok, wait)
	}
}

// TestKeyRateOneHotKey: one key sending 100 req/s on a 5/s route gets about
// 5/s through; a key at 2 req/s is never limited.
func TestKeyRateOneHotKey(t *testing.T) {
	k, clk := newTestKeyRate(KeyRateConfig{Rate: 5, Per: time.Second, Burst: 10})
	hot, calm, calmDenied := 0, 0, 0
	for i := range 1000 { // 10s, one request every 10ms
		if ok, _ := k.Allow(0xdead); ok {
			hot++
		}
		if i%50 == 0 {
			if ok, _ := k.Allow(0xbeef); ok {
				calm++
			} else {
				calmDenied++
			}
		}
		clk.Advance(10 * time.Millisecond)
	}
	t.Logf("100 req/s for 10s on 5/s burst 10: %d through (%.1f/s); 2 req/s key: %d through, %d denied", hot, float64(hot)/10, calm, calmDenied)
	if hot < 55 || hot > 62 {
		t.Errorf("hot key: got %d through in 10s; want about 10 + 5×10", hot)
	}
	if calmDenied != 0 {
		t.Errorf("calm key: got %d denied; want 0", calmDenied)
	}
}

// TestKeyRateBoundedMemory: many more keys than MaxKeys do not grow the
// table, and a key in use is not forgotten (its empty bucket stays empty).
func TestKeyRateBoundedMemory(t *testing.T) {
	k, clk := newTestKeyRate(KeyRateConfig{Rate: 5, Burst: 5, MaxKeys: 1024})
	entries := 0
	for i := range k.shards {
		entries += len(k.shards[i].entries)
	}
	if entries != 1024 {
		t.Fatalf("entries: got %d; want 1024", entries)
	}
	const hot = 42
	for range 5 {
		k.Allow(hot)
	}
	for i := range uint64(100000) {
		clk.Advance(time.Microsecond) // 0.1s in all: half a token
		k.Allow(i*7919 + 1000)
		if i%4 == 0 {
			if ok, _ := k.Allow(hot); ok {
				t.Fatalf("hot key allowed after %d other keys: its bucket was forgotten", i)
			}
		}
	}
}

func TestKeyRateConcurrent(t *testing.T) {
	k := NewKeyRate(KeyRateConfig{Rate: 1000, Burst: 100, MaxKeys: 256})
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := range 2000 {
				if ok, _ := k.Allow(uint64(i % 16)); ok {
					n++
				}
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if allowed < 16*100 || allowed > 16000 {
		t.Errorf("allowed %d; want at least the 16 keys' bursts (1600)", allowed)
	}
}
