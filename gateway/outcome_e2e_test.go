package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestUnknownOutcomeIsNotARefusal: the issuer applies every scan and then
// loses its answer (drop_rate 1). The gateway, which sent the scan, must
// not say the upstream refused it nor invite a retry: 502, "outcome
// unknown", no Retry-After; and it never resends a scan itself.
func TestUnknownOutcomeIsNotARefusal(t *testing.T) {
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "", ""))
	_, _, body := do(t, "GET", gw.url("/v1/codes/"+adultID), "")
	code := decodeCode(t, body).Code
	is.setFaults(t, `{"drop_rate": 1}`)
	for i := range 20 {
		s, hdr, b := do(t, "POST", gw.url("/v1/scans"), fmt.Sprintf(`{"code":%q,"site":"u","sample_id":"u-%d"}`, code, i))
		if s != 502 || !strings.Contains(b, `"outcome":"unknown"`) || strings.Contains(b, "refused") || hdr.Get("Retry-After") != "" {
			t.Fatalf("scan %d with its answer lost: %d %s Retry-After %q; want 502, outcome unknown, no Retry-After", i, s, b, hdr.Get("Retry-After"))
		}
	}
	if st := is.stats(t); st.Scans != 20 {
		t.Fatalf("issuer registered %d scans; want 20 (each applied once, never resent)", st.Scans)
	}
	// Nothing sent at all (the issuer down): a refusal, with Retry-After.
	is.setFaults(t, `{"drop_rate": 0, "outage": true}`)
	s, hdr, b := do(t, "POST", gw.url("/v1/scans"), fmt.Sprintf(`{"code":%q,"site":"u","sample_id":"down"}`, code))
	if s != 503 || !strings.Contains(b, "refused") || hdr.Get("Retry-After") == "" {
		t.Fatalf("scan with the issuer down: %d %s; want 503 refused with Retry-After", s, b)
	}
}

// TestIdempotencyKeyMakesRetriesSafe: with the route's idempotency_key
// set, scans carrying Idempotency-Key are retried by the gateway when an
// answer is lost (30% of them here), and a client that follows the
// gateway's advice on the rest gets every scan registered exactly once.
func TestIdempotencyKeyMakesRetriesSafe(t *testing.T) {
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	cfg := strings.Replace(gatewayConfig(is.addr(), "", ""),
		"class: critical}", "class: critical, idempotency_key: Idempotency-Key}", 1)
	gw := startGateway(t, cfg)
	_, _, body := do(t, "GET", gw.url("/v1/codes/"+adultID), "")
	code := decodeCode(t, body).Code
	is.setFaults(t, `{"drop_rate": 0.3}`)
	const n = 200
	resent := 0
	for i := range n {
		for try := 0; ; try++ {
			s, hdr, b := do(t, "POST", gw.url("/v1/scans"), fmt.Sprintf(`{"code":%q,"site":"k","sample_id":"k-%d"}`, code, i),
				"Idempotency-Key", fmt.Sprintf("scan-%d", i))
			if s == 200 {
				break
			}
			if s != 502 || hdr.Get("Retry-After") == "" || try == 10 {
				t.Fatalf("scan %d try %d: %d %s Retry-After %q; want 200, or 502 with Retry-After (safe to resend)", i, try, s, b, hdr.Get("Retry-After"))
			}
			resent++
		}
	}
	st := is.stats(t)
	t.Logf("issuer: %d scans, %d answers dropped, %d idempotent replays; client resent %d", st.Scans, st.AnswersDropped, st.IdempotentReplays, resent)
	// Each sample id is new: a scan registered twice would count twice.
	// (The issuer's duplicates count the resends it saw, which the key
	// answered without registering.)
	if st.Scans != n {
		t.Fatalf("issuer registered %d scans; want %d, each once", st.Scans, n)
	}
	if st.IdempotentReplays == 0 {
		t.Fatalf("no retry reached the issuer: the gateway did not resend keyed scans")
	}
}

// TestErrorAnswersKeepScansFlowing: with 20% of answers 500, then 30%
// 503, from the only issuer, and health checks probing every 100 ms, no
// second passes without scans served: a probe answered 5xx does not make a
// reachable target unhealthy, and the breaker never takes out the last
// target.
func TestErrorAnswersKeepScansFlowing(t *testing.T) {
	for _, fault := range []string{`{"error_rate": 0.2, "error_status": 500}`, `{"error_rate": 0.3, "error_status": 503}`} {
		is := startIssuer(t, "-workers", "32", "-service-time", "1ms")
		gw := startGateway(t, gatewayConfig(is.addr(), "",
			"    health: {path: /v1/keys, interval: 100ms, timeout: 50ms, unhealthy_after: 2, healthy_after: 2}"))
		_, _, body := do(t, "GET", gw.url("/v1/codes/"+adultID), "")
		code := decodeCode(t, body).Code
		is.setFaults(t, fault)
		unhealthy := make(chan int, 1)
		go func() { // the target's state, every 50 ms while the load runs
			n := 0
			for range 100 {
				var st struct {
					Upstreams []struct{ Targets []struct{ State string } }
				}
				getJSON(t, gw.admin("/status"), &st)
				if st.Upstreams[0].Targets[0].State == "unhealthy" {
					n++
				}
				time.Sleep(50 * time.Millisecond)
			}
			unhealthy <- n
		}()
		res := steadyLoad(t, 200, 5*time.Second, func(i int) (string, string, string) {
			return "POST", gw.url("/v1/scans"), fmt.Sprintf(`{"code":%q,"site":"e","sample_id":"e-%d"}`, code, i)
		})
		perSecond := make([]int, 5)
		for _, s := range res.samples {
			if sec := int(s.at / time.Second); s.status == 200 && sec < len(perSecond) {
				perSecond[sec]++
			}
		}
		t.Logf("%s: %s; scans served per second %v", fault, res, perSecond)
		for sec, n := range perSecond {
			if n == 0 {
				t.Fatalf("%s: no scan served in second %d (%v)", fault, sec, perSecond)
			}
		}
		if n := <-unhealthy; n > 0 {
			t.Fatalf("%s: the reachable target read unhealthy in %d of 100 looks at /status; want 0", fault, n)
		}
	}
}
