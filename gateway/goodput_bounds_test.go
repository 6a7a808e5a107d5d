package gateway_test

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Bounds on the goodput any admission could have had in an admission
// bench run: what the gateway's figure is read against.

// pacedForesightGoodput estimates the goodput a policy could have had
// that knew every key's popularity but fetched at the backend's pace: the
// run in 100 ms windows, g's calls for class normal spread evenly over
// them, each window's share spent on its most popular show-code keys not
// cached yet (a fetch answers every request for its key in the window,
// and later ones from the cache), then on first-time codes. The keys are
// drawn anew from the scenario's law, not the run's own: an estimate.
// Only first tries count (a retry fetches nothing new). The other
// classes' answers are g's own. foresightGoodput's bound fetches each
// popular key at its first request, whatever the pace, and is higher.
func pacedForesightGoodput(g admResult) float64 {
	m := g.mix
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, admShowS, admShowV, admShowPop-1)
	light := int(admLight / (100 * time.Millisecond))
	windows := light + int(admSurge/(100*time.Millisecond))
	perWindow := float64(g.normal) / float64(windows)
	cached := map[uint64]bool{}
	asked := map[uint64]int{}
	var answers, budget float64
	for w := range windows {
		rate := g.surge
		if w < light {
			rate = g.light
		}
		clear(asked)
		var firsts int
		for range int(rate / 10 * float64(m.show+m.issue) / 100) {
			if rng.IntN(m.show+m.issue) >= m.show {
				firsts++
				continue
			}
			if k := zipf.Uint64(); cached[k] {
				answers++
			} else {
				asked[k]++
			}
		}
		keys := slices.Sorted(maps.Keys(asked)) // a lower key is a more popular one
		budget += perWindow
		for _, k := range keys {
			if budget < 1 {
				break
			}
			answers += float64(asked[k])
			cached[k] = true
			budget--
		}
		f := min(float64(firsts), math.Floor(budget))
		answers += f
		budget = min(budget-f, 1) // a backend's idle time is not saved up
	}
	c := g.rep.Classes
	gain := answers - float64(c["show"].OK+c["issue"].OK)
	return g.goodput + gain/g.rep.DurationS
}

// foresightGoodput bounds the goodput any admission policy could have
// had with the same backend calls for class normal as g's: every call
// spent on the most requested show-code keys not yet cached, each fetched
// at its key's first request and every later request for it a hit (the
// future known in advance, no call spent on a first-time code). With the
// zipf law of admScenario, a key k of R show requests gets n_k = R p_k
// requests; fetched first, it answers n_k - P(asked at all) more from the
// cache. The other classes' answers are g's own.
func foresightGoodput(g admResult) float64 {
	c := g.rep.Classes
	r := float64(c["show"].Sent)
	var z float64
	for k := range admShowPop {
		z += math.Pow(admShowV+float64(k), -admShowS)
	}
	answers := float64(g.normal) // one per call
	for k := range min(int(g.normal), admShowPop) {
		n := r * math.Pow(admShowV+float64(k), -admShowS) / z
		answers += n - (1 - math.Exp(-n))
	}
	gain := answers - float64(c["show"].OK+c["issue"].OK)
	return g.goodput + gain/g.rep.DurationS
}
