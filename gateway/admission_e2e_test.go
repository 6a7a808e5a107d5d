package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"shedgate/loadtest"
)

// The admission benchmarks of the priority issue: a 10x surge on an issuer
// whose 10 workers hold every request exactly 20 ms (C = 500/s, workers
// finishing in lockstep), through the gateway and through HAProxy set up
// as an expert would (set-priority-class by route, maxconn = the issuer's
// workers, a queue timeout, its cache on codes), side by side in one run.
// make test runs one mix with loose bounds; make bench (SHEDGATE_BENCH=1)
// runs every mix and client kind and prints the figures.

const (
	admWorkers = 10
	admC       = 500.0 // the issuer's capacity, req/s

	// The show-code keys: zipf over a population of residents.
	admShowPop = 200000
	admShowS   = 1.1
	admShowV   = 200

	// The load: admLightRate for admLight, then admSurgeRate (10x C) for
	// admSurge.
	admLightRate, admSurgeRate = 250, 5000
	admLight, admSurge         = 2 * time.Second, 10 * time.Second
)

// admMix is one request mix at 10x: the percentages of the offered load.
type admMix struct {
	name                                string
	scan, checkin, show, issue, reissue int
}

// admMixes: a launch day's first three have many first-time codes (issue:
// a key nobody asked for before, one answer per backend call for any
// proxy); the last is the admission issue's own measurement, "the rest
// show-code on a skewed population and re-issues" (the harness needs
// every weight positive: 1% first-time codes).
var admMixes = []admMix{
	{"top two 50% of C", 1, 4, 30, 45, 20},
	{"top two 40% of C", 2, 2, 20, 50, 26},
	{"top two 60% of C", 3, 3, 40, 40, 14},
	{"top two 50% of C, repeat show-code", 1, 4, 74, 1, 20},
}

// admClients are the client kinds: patient never retry; impatient retry
// at once, 3 attempts in all; polite honour Retry-After (up to 3 s).
var admClients = map[string]string{
	"patient":   "{kind: patient, weight: 1}",
	"impatient": "{kind: impatient, weight: 1, retries: 2, retry_delay: 0s}",
	"polite":    "{kind: polite, weight: 1, retries: 3, max_retry_after: 3s}",
}

func admScenario(t *testing.T, m admMix, clients string) string {
	t.Helper()
	return admScenarioAt(t, m, clients, admLightRate, admSurgeRate)
}

// admScenarioAt is admScenario with light and surge first attempts per
// second of its own.
func admScenarioAt(t *testing.T, m admMix, clients string, light, surge int) string {
	t.Helper()
	src := fmt.Sprintf(`name: admission
target: http://127.0.0.1:1
timeout: 2s
seed: 12
phases:
  - {kind: constant, rate: %d, duration: %s}
  - {kind: step, rate: %d, duration: %s}
clients: [%s]
setup: {path: "/v1/codes/{key}", pool: 300}
actions: [{at: 2s, post: "http://{issuer_admin}/stats/reset", body: ""}]
requests:
  - {name: scan, class: scan, weight: %d, method: POST, path: /v1/scans,
     body: '{"code":"{code}","site":"s","sample_id":"{run}-{seq}"}',
     key: {kind: uniform, population: 300, format: resident_id, seed: 3}}
  - {name: checkin, class: checkin, weight: %d, method: POST, path: "/v1/venues/{venue}/checkins",
     body: '{"id":"{key}"}', key: {kind: uniform, population: 100000, format: resident_id, seed: 5},
     params: {venue: {kind: uniform, population: 400, prefix: v-}}}
  - {name: show, class: show, weight: %d, path: "/v1/codes/{key}",
     key: {kind: zipf, population: %d, s: %g, v: %d, format: resident_id, seed: 6}}
  - {name: issue, class: issue, weight: %d, path: "/v1/codes/{key}", key: {kind: resident_id, population: 100000000, seed: 2}}
  - {name: reissue, class: reissue, weight: %d, method: POST, path: "/v1/codes/{key}/reissue", ok_status: [409],
     key: {kind: resident_id, population: 100000000, seed: 4}}
`, light, admLight, surge, admSurge, clients, m.scan, m.checkin, m.show, admShowPop, admShowS, admShowV, m.issue, m.reissue)
	p := filepath.Join(t.TempDir(), "admission.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// admissionConfig fronts the issuer with the shipped classes and routes,
// codes cached and coalesced, and an initial limit ten times the issuer's
// workers.
func admissionConfig(target string) string {
	return admissionConfigFor(target, admWorkers)
}

// admissionConfigFor is admissionConfig in front of an issuer of workers.
func admissionConfigFor(target string, workers int) string {
	return configHead("", "issuer", strconv.Quote(target), "") + fmt.Sprintf(`limiter:
  initial_limit: %d
  min_limit: 1
  classes:%s
routes:
  - {name: scan, method: POST, path: /v1/scans, upstream: issuer, class: critical}
  - {name: checkin, method: POST, path: "/v1/venues/{venue}/checkins", upstream: issuer, class: high}
  - {name: code, method: GET, path: "/v1/codes/{id}", upstream: issuer, class: normal, key: "{id}",
     cache: {ttl: upstream, max_ttl: 720h, stale_for: 24h}, coalesce: true}
  - {name: reissue, method: POST, path: "/v1/codes/{id}/reissue", upstream: issuer, class: low, key: "{id}", invalidates: [code]}
  - {name: passthrough, path: "/*", upstream: issuer, class: normal}
`, 10*workers, shippedClasses)
}

// admResult is what one surge run measured.
type admResult struct {
	rep        *loadtest.Report
	st         issuerStats
	goodput    float64 // OK answers per second over the run, all classes
	busy       float64 // issuer workers busy, share of the surge
	queue      int64   // issuer's deepest queue in the surge (in flight - workers)
	inversions int     // seconds where a class lost requests and a lower one was served
	shedP99    float64 // ms: the gateway's rejections, or the lowest class's answers
	adminP99   float64 // ms: /healthz and /status during the run; 0 for HAProxy
	normal     uint64  // class normal's admissions (backend calls), all gateways
	// lowLimit, lowProbe: the gateway's lowest limit in the surge after
	// its first second, outside probes and during them; -1: not watched
	// (see watchSurge).
	lowLimit, lowProbe int
	mix                *admMix // the run's request mix; nil: no paced bound (see pacedForesightGoodput)
	light, surge       float64 // first attempts per second before and in the surge (the paced bound)
	workers            int     // the issuer's
}

// adminProbe times the gateways' /healthz and /status every 50 ms.
type adminProbe struct {
	mu    sync.Mutex
	times []float64
	stop  chan struct{}
	wg    sync.WaitGroup
}

func probeAdmin(urls []string) *adminProbe {
	p := &adminProbe{stop: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, u := range urls {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case <-p.stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				start := time.Now()
				resp, err := client.Get(u)
				took := float64(time.Since(start)) / float64(time.Millisecond)
				if err == nil {
					resp.Body.Close()
				}
				p.mu.Lock()
				p.times = append(p.times, took)
				p.mu.Unlock()
			}
		}()
	}
	return p
}

func (p *adminProbe) p99() float64 {
	close(p.stop)
	p.wg.Wait()
	slices.Sort(p.times)
	if len(p.times) == 0 {
		return 0
	}
	return p.times[(len(p.times)*99)/100]
}

// classOrder is the scenario's classes, highest priority first (show and
// issue share the normal class).
var classOrder = []string{"scan", "checkin", "show", "issue", "reissue"}
var classRank = map[string]int{"scan": 0, "checkin": 1, "show": 2, "issue": 2, "reissue": 3}

// runSurge runs one surge against target and gathers the figures.
func runSurge(t *testing.T, is issuerProc, scenario, target string, gateways []gatewayProc) admResult {
	t.Helper()
	return runSurgeOn(t, -1, is, scenario, target, gateways)
}

// runSurgeOn is runSurge with the load generator pinned to CPU genCPU
// (-1: anywhere).
func runSurgeOn(t *testing.T, genCPU int, is issuerProc, scenario, target string, gateways []gatewayProc) admResult {
	t.Helper()
	var urls []string
	for _, g := range gateways {
		urls = append(urls, g.admin("/healthz"), g.admin("/status"))
	}
	probe := probeAdmin(urls)
	var one *gatewayProc // the limit is watched where one gateway holds all of it
	if len(gateways) == 1 {
		one = &gateways[0]
	}
	watch := watchSurge(t, is, one)
	endTrace := traceGateways(t, gateways)
	rep := runLoadtestArgsOn(t, genCPU, scenario, target, "http://"+is.addr(), "-issuer-admin", is.Addrs[1])
	endTrace()
	w := watch()
	r := admResult{rep: rep, st: is.stats(t), adminP99: probe.p99(), busy: w.busy, lowLimit: w.lowLimit, lowProbe: w.lowProbe,
		workers: is.workersOr(admWorkers), light: admLightRate, surge: admSurgeRate}
	if len(gateways) == 0 {
		r.adminP99 = 0
	}
	for _, c := range rep.Classes {
		r.goodput += c.GoodputRPS
	}
	r.queue = max(r.st.MaxInFlight-int64(r.workers), 0)
	for _, sec := range rep.Timeline {
		if sec.T < 3 || sec.T >= 12 { // the surge, its first second and the one the last requests end in aside
			continue
		}
		var why []string
		for hi, hc := range sec.Classes {
			lost := hc.Shed + hc.Errors + hc.Timeouts
			for lo, lc := range sec.Classes {
				if lost > 0 && classRank[lo] > classRank[hi] && lc.OK > 0 && lo != "show" { // show: cache hits need no slot
					why = append(why, fmt.Sprintf("%s lost %d, %s served %d", hi, lost, lo, lc.OK))
				}
			}
		}
		if len(why) > 0 {
			r.inversions++
			slices.Sort(why)
			t.Logf("second %d: %s", sec.T, strings.Join(why, "; "))
		}
	}
	r.shedP99 = rep.Classes["reissue"].LatencyMs.P99
	if len(gateways) > 0 {
		var sum float64
		for _, g := range gateways {
			sum = max(sum, histogramQuantile(getText(t, g.admin("/metrics")), "gateway_rejection_duration_seconds", 0.99)*1000)
		}
		r.shedP99 = sum
	}
	for i, g := range gateways {
		var st struct {
			Limiter struct {
				Limit   float64 `json:"limit"`
				Classes []struct {
					Name     string            `json:"name"`
					Admitted uint64            `json:"admitted"`
					FreeNext uint64            `json:"admitted_free_next_rank"`
					FreeAny  uint64            `json:"admitted_free_any"`
					Rejected map[string]uint64 `json:"rejected"`
				} `json:"classes"`
			} `json:"limiter"`
		}
		getJSON(t, g.admin("/status"), &st)
		for _, c := range st.Limiter.Classes {
			if c.Name == "normal" {
				r.normal += c.Admitted
			}
		}
		t.Logf("gateway %d: limit %.0f, classes %+v", i, st.Limiter.Limit, st.Limiter.Classes)
	}
	t.Logf("%s: goodput %.0f/s; issuer busy %.0f%%, deepest queue %d; success scan %.4f checkin %.4f show %.3f issue %.3f reissue %.3f; inversions %d s; shed p99 %.1f ms; admin p99 %.1f ms",
		target, r.goodput, 100*r.busy, r.queue, rep.Classes["scan"].Success, rep.Classes["checkin"].Success,
		rep.Classes["show"].Success, rep.Classes["issue"].Success, rep.Classes["reissue"].Success, r.inversions, r.shedP99, r.adminP99)
	t.Logf("checkin: sent %d ok %d shed %d errors %d timeouts %d dropped %d, tries by status %v",
		rep.Classes["checkin"].Sent, rep.Classes["checkin"].OK, rep.Classes["checkin"].Shed, rep.Classes["checkin"].Errors,
		rep.Classes["checkin"].Timeouts, rep.Classes["checkin"].Dropped, rep.Classes["checkin"].Status)
	return r
}

func getText(t *testing.T, url string) string {
	t.Helper()
	_, _, body := do(t, "GET", url, "")
	return body
}

// surgeWatch is what watchSurge saw.
type surgeWatch struct {
	busy float64 // issuer workers busy, share of the surge
	// lowLimit and lowProbe are the gateway's lowest limit in the surge
	// after its first second, outside probes and during them; -1: no
	// gateway watched (HAProxy, or several gateways).
	lowLimit, lowProbe int
}

// watchSurge polls the issuer's busy time, and the limit of gw if not
// nil, every 100 ms while a surge runs. The returned function stops it and
// returns the share of the issuer's workers' time spent serving over the
// 9 s that follow the scenario's stats reset (its counters start over at
// the surge's start), so that retries served after the surge do not
// count; and the gateway's lowest limit from 1 s after the reset (the
// onset, where a limit set ten times too high comes down, aside) to 10 s.
func watchSurge(t *testing.T, is issuerProc, gw *gatewayProc) func() surgeWatch {
	type sample struct {
		at      time.Time
		busy    float64
		limit   int // -1: not read
		probing bool
	}
	var (
		mu      sync.Mutex
		samples []sample
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var st issuerStats
			resp, err := http.Get(is.admin() + "/stats")
			if err != nil {
				continue
			}
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err != nil {
				continue
			}
			s := sample{at: time.Now(), busy: st.BusyMs, limit: -1}
			if gw != nil {
				var gs struct {
					Limiter struct {
						Limit   int  `json:"limit"`
						Probing bool `json:"probing"`
					} `json:"limiter"`
				}
				if resp, err := http.Get(gw.admin("/status")); err == nil {
					if json.NewDecoder(resp.Body).Decode(&gs) == nil {
						s.limit, s.probing = gs.Limiter.Limit, gs.Limiter.Probing
					}
					resp.Body.Close()
				}
			}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		}
	}()
	return func() surgeWatch {
		close(stop)
		<-done
		w := surgeWatch{lowLimit: -1, lowProbe: -1}
		reset := -1
		for i := 1; i < len(samples) && reset < 0; i++ {
			if samples[i].busy < samples[i-1].busy {
				reset = i
			}
		}
		if reset < 0 {
			t.Errorf("issuer busy: no stats reset seen in %d samples", len(samples))
			return w
		}
		start := samples[reset-1].at // the reset happened after this sample
		if gw != nil {
			for _, s := range samples[reset:] {
				if d := s.at.Sub(start); d < time.Second || d > 10*time.Second || s.limit < 0 {
					continue
				}
				low := &w.lowLimit
				if s.probing {
					low = &w.lowProbe
				}
				if *low < 0 || s.limit < *low {
					*low = s.limit
				}
			}
		}
		for _, s := range samples[reset:] {
			if s.at.Sub(start) >= 9*time.Second { // the run ends about 10 s after the reset
				w.busy = s.busy / (float64(is.workersOr(admWorkers)) * float64(s.at.Sub(start)) / float64(time.Millisecond))
				return w
			}
		}
		t.Errorf("issuer busy: fewer than 10 s of samples after the reset")
		return w
	}
}

// lockstepIssuer starts the issuer with constant 20 ms service times.
func lockstepIssuer(t *testing.T) issuerProc {
	return lockstepIssuerOn(t, -1, admWorkers, 20*time.Millisecond)
}

// lockstepIssuerOn starts an issuer of workers with constant service
// times, pinned to CPU cpu (-1: anywhere).
func lockstepIssuerOn(t *testing.T, cpu, workers int, service time.Duration) issuerProc {
	is := startIssuerOn(t, cpu, "-workers", fmt.Sprint(workers), "-service-time", service.String(), "-growth", "+Inf")
	is.workers = workers
	return is
}

// workersOr is the issuer's worker count, or def where the test did not
// say.
func (p issuerProc) workersOr(def int) int {
	if p.workers > 0 {
		return p.workers
	}
	return def
}

// TestAdmissionSurge is make test's check of the admission design with
// loose bounds: one mix, patient clients, through the gateway only.
func TestAdmissionSurge(t *testing.T) {
	if os.Getenv("SHEDGATE_BENCH") != "" {
		t.Skip("make bench runs TestBenchAdmission")
	}
	is := lockstepIssuer(t)
	gw := startGateway(t, admissionConfig(is.addr()))
	r := runSurge(t, is, admScenario(t, admMixes[0], admClients["patient"]), "http://"+gw.Addrs[0], []gatewayProc{gw})
	c := r.rep.Classes
	// Loose: on a quiet machine check-ins are 99.8-100% served; in a CI
	// run whose generator fell behind (1,517 late sends) they were 80%.
	if c["scan"].Success < 0.99 || c["checkin"].Success < 0.5 || c["checkin"].Success < c["issue"].Success+0.3 {
		t.Errorf("success scan %.4f, checkin %.4f, issue %.4f; want the top classes served (>= 0.99, >= 0.5 and well above normal's)",
			c["scan"].Success, c["checkin"].Success, c["issue"].Success)
	}
	if c["reissue"].Success > c["issue"].Success+0.02 {
		t.Errorf("low class success %.3f above normal's %.3f", c["reissue"].Success, c["issue"].Success)
	}
	if r.busy < 0.4 {
		t.Errorf("issuer busy %.0f%% of the surge; want it kept busy", 100*r.busy)
	}
	if r.queue > 10*admWorkers {
		t.Errorf("issuer queue reached %d; want it bounded (target 3x its %d workers)", r.queue, admWorkers)
	}
	// The tolerance in force is on /status and /metrics: the configured
	// 1.2, or 1.4 or 1.6 while check-ins or scans are shed or lost. So
	// are class normal's admissions by free slots, part of its admitted
	// (the level cuts through it, so the free-slot path takes some in).
	var st struct {
		Limiter struct {
			Tolerance float64 `json:"tolerance"`
			Classes   []struct {
				Name     string `json:"name"`
				Admitted uint64 `json:"admitted"`
				FreeNext uint64 `json:"admitted_free_next_rank"`
				FreeAny  uint64 `json:"admitted_free_any"`
			} `json:"classes"`
		} `json:"limiter"`
	}
	getJSON(t, gw.admin("/status"), &st)
	if tol := st.Limiter.Tolerance; tol < 1.2-1e-9 || tol > 1.6+1e-9 {
		t.Errorf("/status limiter.tolerance %v; want 1.2, 1.4 or 1.6", tol)
	}
	for _, k := range st.Limiter.Classes {
		if k.Name == "normal" && (k.FreeNext+k.FreeAny == 0 || k.FreeNext+k.FreeAny > k.Admitted) {
			t.Errorf("/status class normal: admitted %d, by a free slot %d within a rank and %d any; want some, within admitted",
				k.Admitted, k.FreeNext, k.FreeAny)
		}
	}
	m := getText(t, gw.admin("/metrics"))
	for _, name := range []string{"gateway_limiter_tolerance_ratio ", `gateway_limiter_admitted_free_slot_total{class="normal",to="any"} `} {
		if !strings.Contains(m, name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

// TestBenchAdmission prints the admission figures: each mix and client
// kind through the gateway and through HAProxy, then three gateways.
//
// SHEDGATE_ADM picks cases by substring of their names ("polite", "3
// gateways"); unset, all run. SHEDGATE_TRACE=1 logs the gateways' limits
// every 100 ms in the runs through them (traceGateways).
func TestBenchAdmission(t *testing.T) {
	benchOnly(t)
	only := os.Getenv("SHEDGATE_ADM")
	for _, kind := range []string{"patient", "impatient", "polite"} {
		for _, m := range admMixes {
			name := fmt.Sprintf("%s, %s", kind, m.name)
			if !strings.Contains(name, only) {
				continue
			}
			scenario := admScenario(t, m, admClients[kind])
			is := lockstepIssuer(t)
			gw := startGateway(t, admissionConfig(is.addr()))
			g := runSurge(t, is, scenario, "http://"+gw.Addrs[0], []gatewayProc{gw})
			if kind != "polite" {
				g.mix = &m // polite retries come back seconds later: the paced estimate counts first tries only
			}
			gw.Kill()
			is2 := lockstepIssuer(t)
			hp := startHAProxy(t, func(l string) string { return haproxyConfig(l, is2.addr()) })
			h := runSurge(t, is2, scenario, "http://"+hp, nil)
			admFigures(t, name, g, h)
		}
	}
	if !strings.Contains("3 gateways, patient, "+admMixes[0].name, only) {
		return
	}
	is := lockstepIssuer(t)
	var gws []gatewayProc
	var addrs []string
	for range 3 {
		gw := startGateway(t, admissionConfig(is.addr()))
		gws, addrs = append(gws, gw), append(addrs, gw.Addrs[0])
	}
	lb := startHAProxy(t, func(l string) string { return haproxyL4Config(l, addrs) })
	r := runSurge(t, is, admScenario(t, admMixes[0], admClients["patient"]), "http://"+lb, gws)
	admFigures(t, "3 gateways, patient, "+admMixes[0].name, r, admResult{})
}

// admFigures prints one run's figures against the issue's targets; h is
// HAProxy's run of the same scenario (zero: none).
func admFigures(t *testing.T, name string, g, h admResult) {
	t.Helper()
	c := g.rep.Classes
	figure(t, name+": scan success", 100*c["scan"].Success, "%", ">= 99.9", c["scan"].Success >= 0.999)
	figure(t, name+": checkin success", 100*c["checkin"].Success, "%", ">= 99", c["checkin"].Success >= 0.99)
	figure(t, name+": checkin p99", c["checkin"].LatencyMs.P99, "ms", "<= 1000", c["checkin"].LatencyMs.P99 <= 1000)
	figure(t, name+": seconds a lower class was served while a higher lost", float64(g.inversions), "s", "0", g.inversions == 0)
	figure(t, name+": issuer busy in the surge", 100*g.busy, "%", ">= 90", g.busy >= 0.9)
	w := g.workers
	figure(t, name+": issuer deepest queue / workers", float64(g.queue)/float64(w), "x", "<= 3", g.queue <= 3*int64(w))
	figure(t, name+": shed answers p99", g.shedP99, "ms", "<= 5", g.shedP99 <= 5)
	figure(t, name+": admin /healthz,/status p99", g.adminP99, "ms", "<= 50", g.adminP99 <= 50)
	// Context, not a target: the generator shares the cores, and a run
	// whose sends went out late by the thousand or that reached its
	// in-flight cap measures the machine more than the gateway.
	figure(t, name+": load generator's late sends (context)", float64(g.rep.LateSends), "",
		fmt.Sprintf("dropped %d, in flight max %d of %d", g.rep.Dropped, g.rep.Generator.MaxInFlight, g.rep.Generator.InFlightCap), true)
	if g.lowLimit >= 0 {
		// The issuer's service time is constant: it answers in its
		// unloaded time whenever it does not queue, all through the surge.
		figure(t, name+": lowest limit after the first second / issuer workers", float64(g.lowLimit)/float64(w), "x", ">= 0.5", 2*g.lowLimit >= w)
		if g.lowProbe >= 0 {
			figure(t, name+": lowest limit in a probe (one window at half) / issuer workers", float64(g.lowProbe)/float64(w), "x", "informative", true)
		}
	}
	if h.rep == nil {
		return
	}
	hc := h.rep.Classes
	figure(t, name+": HAProxy scan / checkin success", 100*hc["scan"].Success, "%", fmt.Sprintf("checkin %.1f%%", 100*hc["checkin"].Success), true)
	figure(t, name+": HAProxy issuer busy", 100*h.busy, "%", "", true)
	ratio := g.goodput / h.goodput
	// The admission issue's target at 10x, every point here (the blocked
	// issue before it asked 1.5x).
	figure(t, name+": goodput gateway / HAProxy", ratio, "x", ">= 1.1", ratio >= 1.1)
	figure(t, name+": goodput with perfect foresight / HAProxy", foresightGoodput(g)/h.goodput, "x", "a bound", true)
	if g.mix != nil {
		paced := pacedForesightGoodput(g)
		figure(t, name+": goodput with foresight at the backend's pace / HAProxy", paced/h.goodput, "x", "a bound, estimated", true)
		// HAProxy's goodput varies from run to run more than this share.
		figure(t, name+": goodput / that paced bound", g.goodput/paced, "", "informative", true)
	}
}
