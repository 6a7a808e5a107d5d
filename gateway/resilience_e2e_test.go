package gateway_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// twoTargetConfig fronts two issuers with active health checks every
// 200 ms, the default outlier rules and retry budget, and a 500 ms timeout.
func twoTargetConfig(a, b, codeCache string) string {
	return fmt.Sprintf(`server: {listen: "127.0.0.1:0", admin_listen: "[::1]:0"}
upstreams:
  issuer:
    targets: ["%s", "%s"]
    timeout: 500ms
    health: {path: /v1/keys, interval: 200ms, timeout: 100ms, healthy_after: 2, unhealthy_after: 2}
limiter:
  initial_limit: 100
  classes:
    - {name: critical, max_queue: 2000, max_wait: 1s}
    - {name: normal,   max_queue: 1000, max_wait: 500ms}
cache: {max_bytes: 33554432}
routes:
  - {name: code, method: GET, path: "/v1/codes/{id}", upstream: issuer, class: normal, key: "{id}", cache: %s, coalesce: true}
  - {name: health, method: GET, path: "/v1/health/{id}", upstream: issuer, class: normal, key: "{id}"}
  - {name: checkin, method: POST, path: "/v1/venues/{venue}/checkins", upstream: issuer, class: critical}
  - {name: passthrough, path: "/*", upstream: issuer, class: normal}
`, a, b, codeCache)
}

// mixedLoad is 70% health reads (idempotent, uncached) and 30% venue
// check-ins (not idempotent: never to be sent twice).
func mixedLoad(gw gatewayProc, ids []string) func(i int) (string, string, string) {
	return func(i int) (string, string, string) {
		id := ids[i%len(ids)]
		if i%10 < 3 {
			return "POST", gw.url("/v1/venues/hall-1/checkins"), fmt.Sprintf(`{"id":%q}`, id)
		}
		return "GET", gw.url("/v1/health/" + id), ""
	}
}

func (p issuerProc) served(t *testing.T) int64 {
	st := p.stats(t)
	return st.Ops["health"] + st.Ops["checkin"]
}

// TestTargetKilledAndBack: one of two issuers is killed mid-run at
// 500 req/s: client-visible errors stop within 1 s and stay under 1% of
// the run; when it comes back, traffic returns to it within two health
// intervals; no check-in is sent twice.
func TestTargetKilledAndBack(t *testing.T) {
	is1 := startIssuer(t, "-workers", "32", "-service-time", "1ms")
	is2 := startIssuer(t, "-workers", "32", "-service-time", "1ms")
	gw := startGateway(t, twoTargetConfig(is1.addr(), is2.addr(), "{ttl: upstream}"))
	ids := makeIDs(500, 51)

	var back issuerProc
	var backAfter time.Duration
	events := make(chan struct{})
	go func() {
		defer close(events)
		time.Sleep(2 * time.Second)
		is1.Signal(syscall.SIGKILL) //nolint:errcheck
		is1.Wait(time.Second)
		time.Sleep(2 * time.Second)
		back = startIssuer(t, "-workers", "32", "-service-time", "1ms", "-listen", is1.addr())
		listening := time.Now()
		for time.Since(listening) < 3*time.Second && back.served(t) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		backAfter = time.Since(listening)
		if back.served(t) == 0 {
			// For the record: what the gateway thought of its targets.
			_, _, body := do(t, "GET", gw.admin("/status"), "")
			if i := strings.Index(body, `"upstreams"`); i >= 0 {
				body = body[i:]
			}
			t.Logf("no traffic to the restarted target; gateway /status: %.2000s", body)
		}
	}()
	killAt := 2 * time.Second
	res := steadyLoad(t, 500, 8*time.Second, mixedLoad(gw, ids))
	<-events

	fails := res.failures()
	t.Logf("killed target: %s; %d failures; traffic back %v after it listened", res, len(fails), backAfter)
	if rate := float64(len(fails)) / float64(res.sent.Load()); rate >= 0.01 {
		t.Errorf("%d of %d requests failed (%.2f%%); want under 1%%", len(fails), res.sent.Load(), 100*rate)
	}
	for _, f := range fails {
		if f.at > killAt+time.Second {
			t.Errorf("a request sent %v after the kill failed (status %d); want errors to stop within 1s", f.at-killAt, f.status)
			break
		}
	}
	// Within 2 health intervals; the loop gives up at 3 s.
	timing(t, "killed_target_traffic_back_after_listen", backAfter, 400*time.Millisecond, 2*time.Second)
	if d := is2.stats(t).Duplicates + back.stats(t).Duplicates; d != 0 {
		t.Errorf("issuers saw %d duplicate non-idempotent requests; want 0", d)
	}
}

// TestTargetHangsThenFails: one of two issuers hangs, then answers half of
// its requests 503. The hung one is ejected, requests to it take no longer
// than the 500 ms timeout, the p99 recovers within 2 s; with retries the
// 503s stay under 1% client-side and retries within the budget; no
// check-in is sent twice.
func TestTargetHangsThenFails(t *testing.T) {
	is1 := startIssuer(t, "-workers", "32", "-service-time", "1ms")
	is2 := startIssuer(t, "-workers", "32", "-service-time", "1ms")
	gw := startGateway(t, twoTargetConfig(is1.addr(), is2.addr(), "{ttl: upstream}"))
	ids := makeIDs(500, 53)
	go func() {
		time.Sleep(2 * time.Second)
		is1.setFaults(t, `{"hang":true}`)
		time.Sleep(4 * time.Second)
		is1.setFaults(t, `{"hang":false,"error_rate":0.5,"error_status":503}`)
	}()
	sampler := sampleLimit(t, gw)
	res := steadyLoad(t, 300, 12*time.Second, mixedLoad(gw, ids))
	t.Logf("limit p90/baseline ms every 300 ms: %s", sampleTrace(sampler.end(), 0, 0, 13, 3))

	var slowest time.Duration
	var hangFails, errorPhase, errorPhaseFails int
	var errorTimes []string // when the error phase's failures were sent
	for _, s := range res.samples {
		slowest = max(slowest, s.took)
		failed := s.status == 0 || s.status >= 500
		switch {
		case s.at >= 2*time.Second && s.at < 6*time.Second && failed:
			hangFails++
		case s.at >= 6*time.Second:
			errorPhase++
			if failed {
				errorPhaseFails++
				errorTimes = append(errorTimes, fmt.Sprintf("%.2fs:%d", s.at.Seconds(), s.status))
			}
		}
	}
	recovered := res.p99Between(4*time.Second, 6*time.Second)
	var st struct {
		Upstreams []struct {
			Retries        uint64 `json:"retries"`
			RetriesRefused uint64 `json:"retries_refused"`
			Targets        []struct {
				Addr      string
				Requests  uint64
				Failures  uint64
				Ejections uint64
			} `json:"targets"`
		} `json:"upstreams"`
		Limiter struct {
			Classes []struct {
				Name     string
				Rejected map[string]uint64
			}
		}
	}
	getJSON(t, gw.admin("/status"), &st)
	up := st.Upstreams[0]
	failing := -1
	for i, tg := range up.Targets {
		if tg.Addr == is1.addr() {
			failing = i
		}
	}
	if failing < 0 {
		t.Fatalf("no target %s in /status: %+v", is1.addr(), up.Targets)
	}
	t.Logf("limiter rejections: %+v; issuer 1 injected errors %d; targets %+v", st.Limiter.Classes, is1.stats(t).ErrorsInjected, up.Targets)
	t.Logf("hang then 503s: %s; slowest %v; hang-phase failures %d; p99 2-4s after the hang %v; error phase %d/%d failed; retries %d (refused %d); ejections %d",
		res, slowest, hangFails, recovered, errorPhaseFails, errorPhase, up.Retries, up.RetriesRefused, up.Targets[failing].Ejections)
	// No longer than the 500 ms timeout (and a little): never a second
	// attempt's full timeout on top.
	timing(t, "hang_slowest_request", slowest, 800*time.Millisecond, 950*time.Millisecond)
	// Recovered: requests no longer wait out the 500 ms timeout.
	timing(t, "hang_p99_2s_to_4s_after", recovered, 100*time.Millisecond, 400*time.Millisecond)
	t.Logf("error phase failures sent at: %s", strings.Join(errorTimes, " "))
	if rate := float64(errorPhaseFails) / float64(errorPhase); rate >= 0.01 {
		t.Errorf("with one target answering 50%% 503: %d of %d failed (%.2f%%); want under 1%%", errorPhaseFails, errorPhase, 100*rate)
	}
	if total := up.Targets[0].Requests + up.Targets[1].Requests; float64(up.Retries) > 0.1*float64(total)+30 {
		t.Errorf("%d retries for %d requests; want within the 10%% budget", up.Retries, total)
	}
	if up.Targets[failing].Ejections == 0 {
		t.Errorf("the failing target was never ejected")
	}
	if d := is1.stats(t).Duplicates + is2.stats(t).Duplicates; d != 0 {
		t.Errorf("issuers saw %d duplicate non-idempotent requests; want 0", d)
	}
}

// TestBothTargetsDown: with both issuers in outage, cached codes are served
// STALE, other requests get 503 in under 10 ms, the gateway's CPU stays low
// (no reconnect storm), and service resumes within 2 s of the issuers
// returning.
func TestBothTargetsDown(t *testing.T) {
	is1 := startIssuer(t, "-workers", "8", "-service-time", "1ms", "-key-seed", "02")
	is2 := startIssuer(t, "-workers", "8", "-service-time", "1ms", "-key-seed", "02")
	gw := startGateway(t, twoTargetConfig(is1.addr(), is2.addr(), "{ttl: 300ms, stale_for: 1h}"))
	ids := makeIDs(400+100, 57)
	for _, id := range ids[:20] {
		if s, _, _ := do(t, "GET", gw.url("/v1/codes/"+id), ""); s != 200 {
			t.Fatalf("warm-up: %d", s)
		}
	}
	// The reference: the same process, the same load, targets up.
	cpuUpBefore := gw.CPUTime(t)
	steadyLoad(t, 100, 3*time.Second, func(i int) (string, string, string) {
		return "GET", gw.url("/v1/codes/" + ids[20+i%200]), ""
	})
	cpuUp := gw.CPUTime(t) - cpuUpBefore
	time.Sleep(400 * time.Millisecond) // only stale copies left
	is1.setFaults(t, `{"outage":true}`)
	is2.setFaults(t, `{"outage":true}`)
	time.Sleep(500 * time.Millisecond) // health checks see it

	cpuBefore := gw.CPUTime(t)
	res := steadyLoad(t, 100, 3*time.Second, func(i int) (string, string, string) {
		return "GET", gw.url("/v1/codes/" + ids[220+i%280]), "" // never cached
	})
	cpu := gw.CPUTime(t) - cpuBefore
	var slowest time.Duration
	for _, s := range res.samples {
		slowest = max(slowest, s.took)
		if s.status != 503 {
			t.Fatalf("uncached code with both targets down: status %d; want 503", s.status)
		}
	}
	for _, id := range ids[:20] {
		s, hdr, _ := do(t, "GET", gw.url("/v1/codes/"+id), "")
		if s != 200 || hdr.Get("X-Cache") != "STALE" {
			t.Fatalf("cached code with both targets down: %d X-Cache %q; want 200 STALE", s, hdr.Get("X-Cache"))
		}
	}
	t.Logf("both down: 300 uncached requests, slowest 503 %v, gateway CPU %v over 3s (%v with the targets up)", slowest, cpu, cpuUp)
	// The timeout is 500 ms: failing fast is far below it.
	timing(t, "both_down_uncached_503_slowest", slowest, 10*time.Millisecond, 250*time.Millisecond)
	// A reconnect storm would cost many times the CPU of serving the same
	// load from live targets; a fixed bound (300 ms) flaked at 320 ms on a
	// busy machine, where the run with targets up costs 250-280 ms.
	if cpu > 2*cpuUp+50*time.Millisecond {
		t.Errorf("gateway used %v of CPU in 3s with both targets down, %v with them up; want at most 2x (no reconnect storm)", cpu, cpuUp)
	}

	is1.setFaults(t, `{"outage":false}`)
	is2.setFaults(t, `{"outage":false}`)
	returned := time.Now()
	for i := 0; ; i++ {
		s, _, body := do(t, "GET", gw.url("/v1/codes/"+ids[350+i%50]), "")
		if s == 200 {
			break
		}
		if time.Since(returned) > 2*time.Second {
			t.Fatalf("still %d %s 2s after the issuers returned; want service back", s, strings.TrimSpace(body))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("service resumed %v after the issuers returned", time.Since(returned))
}
