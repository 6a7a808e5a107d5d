package gateway_test

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"shedgate/internal/proctest"
	"shedgate/loadtest"
)

// The tests in this file are benchmarks of the adaptive limit's dynamics,
// minutes long: `make bench` runs them (SHEDGATE_BENCH=1) and prints their
// figures with the targets of the limiter issue; `make test` skips them.
// Each runs the real issuer-sim (10 workers x 20 ms = C = 500/s), the real
// gateway and the real harness on loopback.

func benchOnly(t *testing.T) {
	if os.Getenv("SHEDGATE_BENCH") == "" {
		t.Skip("a benchmark: run with SHEDGATE_BENCH=1 (make bench)")
	}
}

// figure prints one measured figure against its target, in the form
// scripts/bench.sh collects.
func figure(t *testing.T, name string, value float64, unit, target string, ok bool) {
	t.Helper()
	verdict := "met"
	if !ok {
		verdict = "MISSED"
	}
	fmt.Printf("FIGURE %-44s %10.2f %-4s target %-12s %s\n", name, value, unit, target, verdict)
}

// timing checks a measured duration against an issue's target. Under
// make bench (SHEDGATE_BENCH=1) it prints the figure against the target.
// In make test it fails only past loose: a bound that still tells the
// behaviour apart (failing fast from waiting out a timeout, coming back
// from staying away) but that a busy machine's scheduling does not cross.
// Tight timing targets are figures, not pass marks of a unit test.
func timing(t *testing.T, name string, got, target, loose time.Duration) {
	t.Helper()
	if os.Getenv("SHEDGATE_BENCH") != "" {
		figure(t, name, float64(got)/float64(time.Millisecond), "ms", "<= "+target.String(), got <= target)
		return
	}
	if got > loose {
		t.Errorf("%s: %v; target %v, and a busy machine explains no more than %v", name, got, target, loose)
	} else if got > target {
		t.Logf("%s: %v, over the target %v (a figure; make bench measures it)", name, got, target)
	}
}

// mixScenario is the shed-10x request mix over the given phases.
func mixScenario(t *testing.T, phases, actions string) string {
	t.Helper()
	src := fmt.Sprintf(`name: bench
target: http://127.0.0.1:1
timeout: 2s
seed: 11
phases:
%s
clients: [{kind: patient, weight: 1}]
setup: {path: "/v1/codes/{key}", pool: 300}
%s
requests:
  - {name: scan, class: scan, weight: 2, method: POST, path: /v1/scans,
     body: '{"code":"{code}","site":"s","sample_id":"{run}-{seq}"}',
     key: {kind: uniform, population: 300, format: resident_id, seed: 3}}
  - {name: issue, class: issue, weight: 80, path: "/v1/codes/{key}", key: {kind: resident_id, population: 100000000, seed: 2}}
  - {name: reissue, class: reissue, weight: 18, method: POST, path: "/v1/codes/{key}/reissue", ok_status: [409],
     key: {kind: resident_id, population: 100000000, seed: 4}}
`, phases, actions)
	p := filepath.Join(t.TempDir(), "bench.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// limitSampler polls the gateway's /status every 100 ms.
type limitSampler struct {
	mu      sync.Mutex
	start   time.Time
	samples []limitSample
	stop    chan struct{}
	done    chan struct{}
}

type limitSample struct {
	t       float64 // seconds since start
	limit   float64
	probing bool    // the limiter is re-measuring its baseline under a lowered limit
	p90     float64 // ms, the last window's
	base    float64 // ms, the baseline
}

func sampleLimit(t *testing.T, gw gatewayProc) *limitSampler {
	s := &limitSampler{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				var st struct {
					Limiter struct {
						Limit    float64
						Probing  bool
						P90      float64 `json:"p90_rtt_ms"`
						Baseline float64 `json:"baseline_rtt_ms"`
					} `json:"limiter"`
				}
				getJSON(t, gw.admin("/status"), &st)
				s.mu.Lock()
				s.samples = append(s.samples, limitSample{time.Since(s.start).Seconds(), st.Limiter.Limit, st.Limiter.Probing,
					st.Limiter.P90, st.Limiter.Baseline})
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *limitSampler) end() []limitSample {
	close(s.stop)
	<-s.done
	return s.samples
}

// medianTrace is the limit's median outside probes over each step seconds
// of the run from from to to, the run starting offset seconds into the
// samples: "0s:18 10s:11 ...".
func medianTrace(samples []limitSample, offset, from, to, step float64) string {
	var trace []string
	for at := from; at < to; at += step {
		trace = append(trace, fmt.Sprintf("%.0fs:%.0f", at, median(between(samples, offset+at, offset+at+step))))
	}
	return strings.Join(trace, " ")
}

// sampleTrace lists every every-th sample of the run from from to to
// seconds: time, limit (P while probing), p90/baseline ms.
func sampleTrace(samples []limitSample, offset, from, to float64, every int) string {
	var trace []string
	for i, x := range samples {
		if i%every == 0 && x.t >= offset+from && x.t < offset+to {
			p := ""
			if x.probing {
				p = "P"
			}
			trace = append(trace, fmt.Sprintf("%.1f:%.0f%s %.0f/%.0f", x.t-offset, x.limit, p, x.p90, x.base))
		}
	}
	return strings.Join(trace, " ")
}

// between returns the limits sampled in [from, to) seconds, outside probes.
func between(samples []limitSample, from, to float64) []float64 {
	var out []float64
	for _, s := range samples {
		if s.t >= from && s.t < to && !s.probing {
			out = append(out, s.limit)
		}
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// settleTime is how long after from the limit entered the band around
// final (±25%, at least ±2) and stayed in it until to. The brief dips of
// the limiter's periodic probes (Stats.Probing) do not count. The band is
// at least ±2 because limits are whole numbers that jitter by one at
// steady state: with ±1 around a final 5, one 100 ms sample of 7, 12 s
// after the limit had gone from 12 to 6, read as "followed after 15 s".
func settleTime(samples []limitSample, from, to, final float64) float64 {
	settled := from
	band := math.Max(0.25*final, 2)
	for _, s := range samples {
		if s.t < from || s.t >= to || s.probing {
			continue
		}
		if math.Abs(s.limit-final) > band {
			settled = s.t + 0.1
		}
	}
	return settled - from
}

// TestBenchLimitDynamics: 2x C to learn, 0.5x, then 5x C in one step, 60 s
// at 10x, back to 0.5x for a minute. Figures: the limit's settling time after the step,
// scan success and the gateway's added p99 at 10x, rejection p99, time to
// 100% success after the surge, and the limit a minute later against
// before the surge.
func TestBenchLimitDynamics(t *testing.T) {
	benchOnly(t)
	is := startIssuer(t, "-workers", "10", "-service-time", "20ms")
	// The issuer's own p99 unloaded (0.2 C): the reference the gateway's
	// added latency is measured against.
	unloaded := runLoadtest(t, mixScenario(t, "  - {kind: constant, rate: 100, duration: 5s}", ""),
		"http://"+is.addr(), "http://"+is.addr())
	scanDirectP99 := unloaded.Classes["scan"].LatencyMs.P99
	issuerUnloadedP99 := is.stats(t).LatencyMs.P99
	do(t, "POST", is.admin()+"/stats/reset", "")

	gw := startGateway(t, sheddingConfig(is.addr(), 120, ""))
	// 20 s at 2x C teach the limit the issuer's concurrency (it starts 10x
	// too high) and let it settle, as a minute at 10x lets it settle after;
	// "before" is then the limit after a minute at 0.5x C, like "after":
	// under light load the limit drifts up to about twice what bursts use.
	phases := `  - {kind: constant, rate: 1000, duration: 20s}
  - {kind: constant, rate: 250, duration: 60s}
  - {kind: step, rate: 2500, duration: 10s}
  - {kind: step, rate: 5000, duration: 60s}
  - {kind: step, rate: 250, duration: 60s}`
	const surge = 80.0 // the 0.5x -> 5x step; 10x from surge+10 to surge+70
	sampler := sampleLimit(t, gw)
	rep := runLoadtest(t, mixScenario(t, phases, ""), "http://"+gw.Addrs[0], "http://"+is.addr())
	samples := sampler.end()
	// The sampler started before the harness's setup; align on the phases
	// by the harness's wall clock: the run ended WallS after its start.
	offset := samples[len(samples)-1].t - rep.WallS
	at := func(s float64) float64 { return offset + s }
	t.Logf("limit, median of each 10 s (outside probes): %s", medianTrace(samples, offset, 0, surge+130, 10))

	before := median(between(samples, at(surge-5), at(surge)))
	final5x := median(between(samples, at(surge+5), at(surge+10)))
	settle := settleTime(samples, at(surge), at(surge+10), final5x)
	figure(t, "limit learned before the surge (0.5x C)", before, "", "", true)
	figure(t, "limit settling time after 0.5x->5x step", settle, "s", "<= 2", settle <= 2)
	after := median(between(samples, at(surge+125), at(surge+130)))
	figure(t, "limit a minute after the surge / before", after/before, "x", "0.8..1.2", after/before >= 0.8 && after/before <= 1.2)

	scan := rep.Classes["scan"]
	figure(t, "scan success through 0.5x/5x/10x/0.5x", scan.Success*100, "%", ">= 99.9", scan.Success >= 0.999)
	figure(t, "scan p99 through the gateway", scan.LatencyMs.P99, "ms", "", true)
	figure(t, "scan p99 direct, unloaded", scanDirectP99, "ms", "", true)
	added := scan.LatencyMs.P99 - scanDirectP99
	figure(t, "gateway's added scan p99 under 10x", added, "ms", "<= 50", added <= 50)

	recovered := math.NaN()
	for _, s := range rep.Timeline {
		if float64(s.T) < surge+70 {
			continue
		}
		if s.Sent > 0 && s.OK == s.Sent {
			recovered = float64(s.T) - (surge + 70)
			break
		}
	}
	figure(t, "seconds to 100% success after the surge", recovered, "s", "<= 5", recovered <= 5)

	st := is.stats(t)
	figure(t, "issuer max in flight (max_limit 150)", float64(st.MaxInFlight), "", "<= 150", st.MaxInFlight <= 150)
	figure(t, "issuer p99 unloaded", issuerUnloadedP99, "ms", "", true)
	figure(t, "issuer p99 over the whole run", st.LatencyMs.P99, "ms", "", true)
	_, _, metrics := do(t, "GET", gw.admin("/metrics"), "")
	p99 := histogramQuantile(metrics, "gateway_rejection_duration_seconds", 0.99) * 1000
	figure(t, "rejection p99 (gateway, arrival to answer)", p99, "ms", "<= 5", p99 <= 5)
	figure(t, "generator send lag p99", rep.Generator.SendLagMs.P99, "ms", "", true)
}

// TestBenchSteadySurge: 10x C with scans at 20% of C after the limit has
// settled. Figures: the issuer's share of its capacity and its p99 against
// unloaded, over the steady part only.
func TestBenchSteadySurge(t *testing.T) {
	benchOnly(t)
	is := startIssuer(t, "-workers", "10", "-service-time", "20ms")
	runLoadtest(t, mixScenario(t, "  - {kind: constant, rate: 100, duration: 4s}", ""), "http://"+is.addr(), "http://"+is.addr())
	unloaded := is.stats(t).LatencyMs.P99
	gw := startGateway(t, sheddingConfig(is.addr(), 120, ""))
	// 5 s at 10x to settle, reset the issuer's counters, then 20 s measured.
	actions := "actions: [{at: 7s, post: \"http://{issuer_admin}/stats/reset\", body: \"\"}]"
	sampler := sampleLimit(t, gw)
	rep := runLoadtestAdmin(t, mixScenario(t, "  - {kind: constant, rate: 250, duration: 2s}\n  - {kind: step, rate: 5000, duration: 25s}", actions),
		"http://"+gw.Addrs[0], "http://"+is.addr(), is.Addrs[1])
	st := is.stats(t)
	samples := sampler.end()
	offset := samples[len(samples)-1].t - rep.WallS
	t.Logf("limit p90/baseline ms, 2-14 s: %s", sampleTrace(samples, offset, 2, 14, 2))
	t.Logf("limit, median of each second (outside probes): %s", medianTrace(samples, offset, 0, 27, 1))
	share := float64(st.Served) / (20 * 500)
	figure(t, "issuer served, share of C over 20 s at 10x", share*100, "%", ">= 95", share >= 0.95)
	// Where the rest went: idle workers (the gateway's doing), or service
	// times stretched past the model's by this machine's late timers and
	// by the model's queue growth (the issuer's own).
	figure(t, "issuer workers busy, share of 20 s at 10x", st.BusyMs/(10*20000)*100, "%", "", true)
	figure(t, "issuer service held / model's service time", st.BusyMs/st.NominalMs, "x", "", true)
	figure(t, "issuer model's service time / 20 ms base", st.NominalMs/float64(st.Served)/20, "x", "", true)
	ratio := st.LatencyMs.P99 / unloaded
	figure(t, "issuer p99 at 10x / unloaded", ratio, "x", "<= 1.5", ratio <= 1.5)
	figure(t, "scan success at 10x", rep.Classes["scan"].Success*100, "%", ">= 99.9", rep.Classes["scan"].Success >= 0.999)
}

// TestBenchCapacityHalves: at 2x C, the issuer's workers go from 10 to 5.
// Figures: how long the limit takes to follow, and goodput against the new
// capacity.
func TestBenchCapacityHalves(t *testing.T) {
	benchOnly(t)
	is := startIssuer(t, "-workers", "10", "-service-time", "20ms")
	gw := startGateway(t, sheddingConfig(is.addr(), 20, ""))
	actions := `actions:
  - {at: 15s, post: "http://{issuer_admin}/faults", body: '{"workers":5}'}
  - {at: 20s, post: "http://{issuer_admin}/stats/reset", body: ""}`
	sampler := sampleLimit(t, gw)
	rep := runLoadtestAdmin(t, mixScenario(t, "  - {kind: constant, rate: 1000, duration: 30s}", actions),
		"http://"+gw.Addrs[0], "http://"+is.addr(), is.Addrs[1])
	samples := sampler.end()
	offset := samples[len(samples)-1].t - rep.WallS
	at := func(s float64) float64 { return offset + s }
	t.Logf("limit, median of each second (outside probes): %s", medianTrace(samples, offset, 13, 30, 1))
	before := median(between(samples, at(10), at(15)))
	after := median(between(samples, at(25), at(30)))
	follow := settleTime(samples, at(15), at(30), after)
	figure(t, "limit before / after halving the issuer", before, "", fmt.Sprintf("after %.0f", after), true)
	figure(t, "limit follows a halved capacity within", follow, "s", "<= 5", follow <= 5)
	st := is.stats(t) // reset 5 s after the halving: the last 10 s
	goodput := float64(st.Served) / 10 / 250
	figure(t, "goodput / new capacity (250/s), last 10 s", goodput*100, "%", ">= 90", goodput >= 0.9)
}

// runLoadtestAdmin is runLoadtest with the issuer's admin address for the
// scenario's actions.
func runLoadtestAdmin(t *testing.T, scenario, target, setupTarget, admin string) *loadtest.Report {
	t.Helper()
	return runLoadtestArgs(t, scenario, target, setupTarget, "-issuer-admin", admin)
}

var leRe = regexp.MustCompile(`_bucket\{(?:.*,)?le="([^"]+)"\} (\d+)`)

// histogramQuantile reads a Prometheus histogram (cumulative le buckets,
// all series of the family added up) from /metrics text and returns the
// upper bound of the bucket holding quantile q.
func histogramQuantile(text, name string, q float64) float64 {
	byLE := map[float64]float64{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"_bucket") {
			continue
		}
		m := leRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		le, _ := strconv.ParseFloat(m[1], 64) // "+Inf" parses as +Inf
		n, _ := strconv.ParseFloat(m[2], 64)
		byLE[le] += n
	}
	les := slices.Sorted(maps.Keys(byLE))
	if len(les) == 0 {
		return math.NaN()
	}
	total := byLE[les[len(les)-1]]
	for _, le := range les {
		if byLE[le] >= q*total {
			return le
		}
	}
	return math.NaN()
}

// codeScenario reads codes of a population of 1,000 resident IDs at rate
// for d; kind "sequential" visits each once in turn, "uniform" at random.
func codeScenario(t *testing.T, kind string, rate int, d time.Duration) string {
	return populationScenario(t, kind, 1000, rate, d)
}

func populationScenario(t *testing.T, kind string, population, rate int, d time.Duration) string {
	t.Helper()
	src := fmt.Sprintf(`name: codes
target: http://127.0.0.1:1
timeout: 2s
phases: [{kind: constant, rate: %d, duration: %s}]
requests:
  - {name: show, class: show, weight: 1, path: "/v1/codes/{key}",
     key: {kind: %s, population: %d, format: resident_id, seed: 1}}
`, rate, d, kind, population)
	p := filepath.Join(t.TempDir(), kind+".yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBenchCacheHit: the gateway answering cache hits against a bare
// fasthttp server answering the same bytes, with the same generator, three
// times each, alternating. Figures: the median throughput ratio, and the
// p99 at half the gateway's throughput.
func TestBenchCacheHit(t *testing.T) {
	benchOnly(t)
	is := startIssuer(t, "-workers", "32", "-service-time", "1ms")
	gw := startGateway(t, cacheConfig(is.addr(), ""))
	gwURL := "http://" + gw.Addrs[0]
	runLoadtest(t, codeScenario(t, "sequential", 1000, time.Second), gwURL, gwURL) // every key cached

	_, hdr, body := do(t, "GET", gw.url("/v1/codes/"+seniorID), "")
	_, hdr, body = do(t, "GET", gw.url("/v1/codes/"+seniorID), "")
	if hdr.Get("X-Cache") != "HIT" {
		t.Fatalf("warm-up: X-Cache %q; want HIT", hdr.Get("X-Cache"))
	}
	bodyFile := filepath.Join(t.TempDir(), "code.json")
	os.WriteFile(bodyFile, []byte(body), 0o644) //nolint:errcheck
	args := []string{"-body", bodyFile}
	for _, h := range []string{"Content-Type", "Cache-Control", "Age", "X-Cache", "X-Request-Id", "Server"} {
		if v := hdr.Get(h); v != "" { // a hit has no X-Request-Id unless configured
			args = append(args, "-header", h+": "+v)
		}
	}
	origin := proctest.Start(t, proctest.Build(t, "shedgate/cmd/fixed-origin"), append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	bareURL := "http://" + origin.Addrs[0]

	// Pipelined on a few connections, the harness needs about one core for
	// 45,000 req/s (scripts/bench-harness.sh), so the servers, not the
	// generator, set the rates compared here.
	const offered = 150000
	pipelined := []string{"-pipeline", "32", "-connections", "8"}
	var ratios, gwRates, bareRates []float64
	for range 3 {
		b := runLoadtestArgs(t, codeScenario(t, "uniform", offered, 4*time.Second), bareURL, bareURL, pipelined...)
		g := runLoadtestArgs(t, codeScenario(t, "uniform", offered, 4*time.Second), gwURL, gwURL, pipelined...)
		bareRates = append(bareRates, b.All.GoodputRPS)
		gwRates = append(gwRates, g.All.GoodputRPS)
		ratios = append(ratios, g.All.GoodputRPS/b.All.GoodputRPS)
	}
	ratio := median(ratios)
	figure(t, "bare fasthttp, same bytes (median of 3)", median(bareRates), "/s", "", true)
	figure(t, "gateway cache hits (median of 3)", median(gwRates), "/s", "", true)
	figure(t, "cache-hit throughput ratio gateway/bare", ratio, "x", ">= 0.85", ratio >= 0.85)
	half := int(median(gwRates) / 2)
	var p99s []float64
	for range 3 {
		r := runLoadtestArgs(t, codeScenario(t, "uniform", half, 5*time.Second), gwURL, gwURL, pipelined...)
		p99s = append(p99s, r.All.LatencyMs.P99)
	}
	figure(t, fmt.Sprintf("cache-hit p99 at %d/s (half), median of 3", half), median(p99s), "ms", "< 2", median(p99s) < 2)
	p99s = p99s[:0]
	for range 3 {
		r := runLoadtest(t, codeScenario(t, "uniform", 5000, 5*time.Second), gwURL, gwURL)
		p99s = append(p99s, r.All.LatencyMs.P99)
	}
	figure(t, "cache-hit p99 at 5000/s, median of 3", median(p99s), "ms", "", true)
}

// TestBenchCacheMemory: a million distinct codes through a gateway whose
// cache may hold 32 MiB. Figure: the gateway's resident memory against
// max_bytes + 150 MiB.
func TestBenchCacheMemory(t *testing.T) {
	benchOnly(t)
	is := startIssuer(t, "-workers", "64", "-service-time", "0")
	gw := startGateway(t, cacheConfig(is.addr(), ""))
	gwURL := "http://" + gw.Addrs[0]
	// 64 connections: the figure is about keys, not about the buffers of
	// thousands of connections a backlog would open. 1,080,000 requests at
	// 5,000/s over a population of 1,100,000 in sequence: every one a new
	// key (6,000/s was more than two shared cores issue, sign and cache).
	rep := runLoadtestArgs(t, populationScenario(t, "sequential", 1_100_000, 5000, 216*time.Second), gwURL, gwURL,
		"-connections", "64")
	var cs struct {
		Cache struct {
			Entries  uint64 `json:"entries"`
			Bytes    uint64 `json:"bytes"`
			MaxBytes uint64 `json:"max_bytes"`
		} `json:"cache"`
	}
	getJSON(t, gw.admin("/status"), &cs)
	rss := gw.RSS(t)
	limit := float64(cs.Cache.MaxBytes) + 150<<20
	figure(t, "distinct keys answered 200", float64(rep.All.OK), "", ">= 1000000", rep.All.OK >= 1_000_000)
	figure(t, "cache entries held at the end", float64(cs.Cache.Entries), "", "", true)
	figure(t, "gateway RSS after 1M keys", float64(rss)/(1<<20), "MiB", fmt.Sprintf("<= %.0f", limit/(1<<20)), float64(rss) <= limit)
}
