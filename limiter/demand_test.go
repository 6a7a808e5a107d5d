package limiter

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestDemandCounts(t *testing.T) {
	d := NewDemand(1 << 12)
	for i := range 20 {
		d.User(7)
		if got, want := d.count(7), min(i+1, 15); got != want {
			t.Fatalf("after %d requests Estimate = %d, want %d (a counter saturates at 15)", i+1, got, want)
		}
	}
	for k := uint64(100); k < 200; k++ {
		if got := d.count(k); got != 0 {
			t.Errorf("key %d never asked for: Estimate = %d, want 0", k, got)
		}
	}
}

func TestDemandFades(t *testing.T) {
	d := NewDemand(1024) // a sample of 128 requests
	for range 12 {
		d.User(1)
	}
	if got := d.count(1); got != 12 {
		t.Fatalf("Estimate = %d, want 12", got)
	}
	// Fill the rest of the sample with two other keys: the counters halve.
	for k := range uint64(128 - 12) {
		d.User(1000 + k%2)
	}
	if got := d.count(1); got != 6 {
		t.Errorf("after a sample Estimate = %d, want 6 (halved)", got)
	}
}

// TestDemandFirstRequestsRankLowest: a surge's misses are mostly keys
// asked for once (new codes), many times more than the sketch has
// counters. Each must still rank at the bottom, below keys asked for
// again: a count-min estimate reads high once all four of a key's
// counters were raised by others. With TinyLFU's sample (ten times the
// counters, no halving in these 300,000 misses) 83% of them ranked
// higher.
func TestDemandFirstRequestsRankLowest(t *testing.T) {
	d := NewDemand(1 << 16)
	rng := rand.New(rand.NewPCG(1, 2))
	var firsts, firstsHigh, repeats, repeatsLow int
	for i := range 300_000 {
		if i%3 == 2 { // 200 keys asked for again and again
			k := uint64(rng.IntN(200)) * 0x9E3779B97F4A7C15
			if d.User(k)>>61 == 7 && i > 3_000 {
				repeatsLow++
			}
			repeats++
			continue
		}
		if d.User(rng.Uint64())>>61 != 7 { // 64 random bits: never asked before
			firstsHigh++
		}
		firsts++
	}
	t.Logf("first requests ranked above the bottom: %d of %d; repeated keys' requests at the bottom: %d of %d",
		firstsHigh, firsts, repeatsLow, repeats)
	if firstsHigh > firsts/100 {
		t.Errorf("%d of %d first requests ranked above the bottom, want at most 1%%", firstsHigh, firsts)
	}
	if repeatsLow > repeats/100 {
		t.Errorf("%d of %d requests for keys asked for every 600 misses ranked at the bottom, want at most 1%%", repeatsLow, repeats)
	}
}

func TestDemandRanksUsers(t *testing.T) {
	var nilDemand *Demand
	if got := nilDemand.User(42); got != 42 {
		t.Errorf("nil Demand: User = %d, want the key hash", got)
	}
	d := NewDemand(1 << 12)
	const hot, cold = 0x1111_0000_0000_0000, 0x0fff_0000_0000_0000
	for range 5 {
		d.User(hot)
	}
	uHot, uCold := d.User(hot), d.User(cold)
	if uHot >= uCold {
		t.Errorf("asked 6 times: user %#x; once: %#x; want the hot key more important (lower)", uHot, uCold)
	}
	// Within a rank the key's hash orders users, the same way each time.
	a, b := NewDemand(1<<12).User(1<<40), NewDemand(1<<12).User(1<<50)
	if a >= b || a>>61 != b>>61 {
		t.Errorf("first requests: users %#x and %#x; want one rank, ordered by hash", a, b)
	}
	// Ranks only rise with the count.
	d = NewDemand(1 << 12)
	prev := uint64(1<<64 - 1)
	for i := range 15 {
		u := d.User(99)
		if u > prev {
			t.Errorf("request %d: user %#x rose above %#x", i+1, u, prev)
		}
		prev = u
	}
	if prev>>61 != 0 {
		t.Errorf("15 requests: rank bits %d, want the top rank (0)", prev>>61)
	}
}

func TestDemandConcurrent(t *testing.T) {
	d := NewDemand(1 << 16)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				d.User(uint64(1000 + g*2000 + i)) // other keys, once each
				if i%500 == 0 {
					d.User(7) // 4 times per goroutine
				}
			}
		}()
	}
	wg.Wait()
	// Concurrent increments of one key are none of them lost (and the
	// 8,000 others, spread over 65,536 counters, left its counters alone).
	if got := d.count(7); got != 15 {
		t.Errorf("16 concurrent requests for one key: Estimate = %d, want 15 (saturated)", got)
	}
	d = NewDemand(1 << 16)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				d.User(7)
				d.User(uint64(100 + g))
			}
		}()
	}
	wg.Wait()
	if got := d.count(7); got != 12 {
		t.Errorf("12 concurrent requests for one key: Estimate = %d, want 12", got)
	}
}

func TestDemandAllocatesNothing(t *testing.T) {
	d := NewDemand(1 << 12)
	var k uint64
	if n := testing.AllocsPerRun(1000, func() { k++; d.User(k % 64) }); n != 0 {
		t.Errorf("User allocates %.1f times per call, want 0", n)
	}
}

// TestDemandCachesMoreOfTheHotKeys is why Demand exists: a backend that
// can fetch a quarter of the misses, a cache that keeps what was fetched,
// requests over a skewed population. Each window the most important
// quarter of the misses (by user value, as the admission level would
// admit them) is fetched. Ranked by demand, the fetches go to keys asked
// for again, and many more later requests are cache hits than when users
// are ranked by their hash alone (the same quarter of the keys each
// time).
func TestDemandCachesMoreOfTheHotKeys(t *testing.T) {
	hits := func(d *Demand) int {
		rng := rand.New(rand.NewPCG(1, 2))
		zipf := rand.NewZipf(rng, 1.1, 200, 99_999)
		cached := map[uint64]bool{}
		var n int
		for range 100 { // windows
			var users []uint64
			byUser := map[uint64]uint64{}
			for range 1000 { // requests per window
				k := zipf.Uint64()
				if cached[k] {
					n++
					continue
				}
				h := k*0x9E3779B97F4A7C15 | 1 // a key hash
				u := d.User(h)
				users = append(users, u)
				byUser[u] = k
			}
			slices.Sort(users)
			for _, u := range users[:len(users)/4] {
				cached[byUser[u]] = true
			}
		}
		return n
	}
	byHash, byDemand := hits(nil), hits(NewDemand(1<<16))
	t.Logf("cache hits of 100,000 requests: users by hash %d, by demand %d", byHash, byDemand)
	if byDemand < byHash*3/2 {
		t.Errorf("cache hits: by demand %d, by hash %d; want at least 1.5x", byDemand, byHash)
	}
}

// TestDemandNearlyMatchesForesight: the admission bench's repeat
// show-code surge in windows of 100 ms (2 s at 250/s, then 10 s at
// 5,000/s; 74% show-code on the bench's zipf law, 1% first-time codes, the
// rest other classes), a backend that fetches 23 misses per window (what
// class normal got of the bench's issuer), a cache that keeps what was
// fetched. Ranked by demand, the fetches answer nearly as many show-code
// requests as fetching, each window, the most popular keys asked for, the
// popularity known in advance: what any admission could do with the
// backend's pace. (The bench prints the same estimate for each run, and
// a perfect-foresight bound, the most popular keys each at its first
// request, that ignores the pace and is higher.)
func TestDemandNearlyMatchesForesight(t *testing.T) {
	const newCode = 1 << 40
	run := func(rank func(k uint64) uint64) (answered, asked int) {
		rng := rand.New(rand.NewPCG(7, 9))
		zipf := rand.NewZipf(rng, 1.1, 200, 199_999)
		cached := map[uint64]bool{}
		for w := range 120 {
			perWindow := 25
			if w >= 20 {
				perWindow = 500
			}
			var users []uint64
			byUser := map[uint64]uint64{}
			for range perWindow {
				var k uint64
				switch r := rng.IntN(100); {
				case r < 74:
					k = zipf.Uint64()
					asked++
				case r < 75:
					k = newCode | rng.Uint64()>>24
				default:
					continue
				}
				if cached[k] {
					answered++
					continue
				}
				u := rank(k)
				users = append(users, u)
				byUser[u] = k
			}
			slices.Sort(users)
			for _, u := range users[:min(23, len(users))] {
				if k := byUser[u]; k < newCode {
					cached[k] = true
					answered++
				}
			}
		}
		return answered, asked
	}
	d := NewDemand(DemandCounters)
	byDemand, asked := run(func(k uint64) uint64 { return d.User(mix(k + 12345)) })
	foresight, _ := run(func(k uint64) uint64 { return k }) // zipf: a lower key is a more popular one
	byHash, _ := run(func(k uint64) uint64 { return mix(k + 12345) })
	t.Logf("show-code requests answered of %d: by demand %d, with foresight %d (%.2f of it), by hash %d",
		asked, byDemand, foresight, float64(byDemand)/float64(foresight), byHash)
	if byDemand < foresight*9/10 {
		t.Errorf("by demand %d, with foresight %d: want at least 0.9 of it", byDemand, foresight)
	}
}

// TestUserWithRanksByTheLargerCount: a key this gateway saw once but the
// fleet missed ten times ranks as the fleet's count says, and a key seen
// here more often than the fleet's count keeps its own rank.
func TestUserWithRanksByTheLargerCount(t *testing.T) {
	d := NewDemand(1 << 12)
	const a, b = 0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321
	once := d.User(a)
	if got := d.UserWith(a, 10); got >= once {
		t.Fatalf("UserWith(a, fleet 10) = %x, not more important than its own rank %x", got, once)
	}
	if got := d.UserWith(a, 0); got != once {
		t.Fatalf("UserWith(a, fleet 0) = %x; want its own rank %x", got, once)
	}
	var own uint64
	for range 8 {
		own = d.User(b)
	}
	if got := d.UserWith(b, 1); got != own {
		t.Fatalf("UserWith(b, fleet 1) = %x; want its own higher rank %x", got, own)
	}
	var nilDemand *Demand
	if got := nilDemand.UserWith(a, 5); got != a {
		t.Fatalf("nil Demand: %x; want the key's hash", got)
	}
}
