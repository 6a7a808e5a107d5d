package gateway_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"shedgate/gateway"
)

// TestErrorsAreNotOverload: an issuer failing 20% of its answers with 500
// while its workers have room (10 x 20 ms, scans at 80% of its capacity)
// is not overloaded, and the gateway sheds no scans for it: its limit
// stays above half the workers. Before, any 5xx above 5% of a window cut
// the limit: with 10% errors it fell to 2 within 2-3 s and about 45% of
// scans were shed.
func TestErrorsAreNotOverload(t *testing.T) {
	is := startIssuer(t, "-workers", "10", "-service-time", "20ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "", ""))
	_, _, body := do(t, "GET", gw.url("/v1/codes/"+adultID), "")
	code := decodeCode(t, body).Code
	is.setFaults(t, `{"error_rate": 0.2}`)

	// The first windows start at initial_limit: watch from 1 s on.
	watched := watchLimit(t, gw, time.Second, nil)
	res := steadyLoad(t, 400, 5*time.Second, func(i int) (string, string, string) {
		return "POST", gw.url("/v1/scans"), fmt.Sprintf(`{"code":%q,"site":"errs","sample_id":"e-%d"}`, code, i)
	})
	lowest, _ := watched()
	var shed, failed int
	for _, s := range res.samples {
		switch s.status {
		case 503:
			shed++
		case 500:
			failed++
		}
	}
	sent := len(res.samples)
	t.Logf("scans: %d sent, %d answered 500 by the issuer, %d shed by the gateway; lowest limit %d", sent, failed, shed, lowest)
	if failed < (sent-shed)/10 {
		t.Fatalf("only %d of the %d scans the issuer saw failed: its error fault did not take", failed, sent-shed)
	}
	if shed > sent/100 {
		t.Errorf("%d of %d scans shed by the gateway; want <= 1%%", shed, sent)
	}
	if lowest < 5 {
		t.Errorf("the limit fell to %d; want >= half the issuer's 10 workers", lowest)
	}
}

// TestBenchSlowerBackend: an issuer with room to spare (400 workers x
// 20 ms, offered 600 code fetches a second) whose answers all take 200 ms
// longer from 3 s on holds more requests for the same rate (Little's law:
// about 132 instead of 12), not a queue. The admission issue's target:
// the limit rises with the round trip and nothing is shed beyond what
// the issuer's own queue warrants. Measured before the rebuild: the limit
// fell from 30 to 8-17 and 80-88% of such requests were shed for 4 s,
// 12 s to recover. make test holds it to loose bounds
// (TestSlowerBackendRaisesTheLimit).
func TestBenchSlowerBackend(t *testing.T) {
	benchOnly(t)
	r := slowerBackend(t)
	figure(t, "slower backend, spare capacity: shed in the first 2 s", 100*r.early, "%", "informative", true)
	figure(t, "slower backend, spare capacity: shed after 2 s", 100*r.late, "%", "0", r.late == 0)
	figure(t, "slower backend: highest limit / Little's law (132)", float64(r.highest)/132, "x", ">= 1", r.highest >= 132)
}

// TestSlowerBackendRaisesTheLimit is TestBenchSlowerBackend with loose
// bounds: the limit passes what Little's law needs and most requests are
// served once the new round trip is known. Before slow start resumed
// after a rebase, 71-76% were shed after 2 s and the limit stayed at
// about half of it.
func TestSlowerBackendRaisesTheLimit(t *testing.T) {
	if os.Getenv("SHEDGATE_BENCH") != "" {
		t.Skip("make bench runs TestBenchSlowerBackend")
	}
	r := slowerBackend(t)
	if r.highest < 100 {
		t.Errorf("highest limit %d after the issuer slowed; want >= 100 (Little's law: 132)", r.highest)
	}
	if r.late > 0.3 {
		t.Errorf("%.0f%% shed 2 s after the issuer slowed, with 400 workers for 132 requests; want <= 30%% (target 0)", 100*r.late)
	}
	if r.silences == 0 {
		t.Errorf("/status silences 0 after the issuer went 200 ms slower; want the silence read")
	}
}

// slowerRun is what slowerBackend measured: the shares shed in the first
// 2 s after the fault and after, the highest limit after it, and the
// silences the gateway read (/status).
type slowerRun struct {
	early, late float64
	highest     int64
	silences    uint64
}

func slowerBackend(t *testing.T) slowerRun {
	t.Helper()
	is := startIssuer(t, "-workers", "400", "-service-time", "20ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "", ""))
	ids := makeIDs(6000, 11)

	faultAt := 3 * time.Second
	watched := watchLimit(t, gw, faultAt, func() { is.setFaults(t, `{"latency": "200ms"}`) })
	res := steadyLoad(t, 600, 10*time.Second, func(i int) (string, string, string) {
		return "GET", gw.url("/v1/codes/" + ids[i]), ""
	})
	_, highest := watched()
	var shedEarly, sentEarly, shedLate, sentLate int
	for _, s := range res.samples {
		switch {
		case s.at < faultAt:
		case s.at < faultAt+2*time.Second:
			sentEarly++
			if s.status == 503 {
				shedEarly++
			}
		default:
			sentLate++
			if s.status == 503 {
				shedLate++
			}
		}
	}
	if sentEarly == 0 || sentLate == 0 {
		t.Fatalf("no requests sent after the fault: %d, %d", sentEarly, sentLate)
	}
	st := is.stats(t)
	var gs gateway.Status
	getJSON(t, gw.admin("/status"), &gs)
	t.Logf("after the latency rose: %d of %d shed in its first 2 s, %d of %d after; highest limit %d; silences %d; issuer max in flight %d of 400 workers",
		shedEarly, sentEarly, shedLate, sentLate, highest, gs.Limiter.Silences, st.MaxInFlight)
	return slowerRun{early: float64(shedEarly) / float64(sentEarly), late: float64(shedLate) / float64(sentLate), highest: highest, silences: gs.Limiter.Silences}
}

// watchLimit reads the gateway's limit every 100 ms from after on (first
// calling then, if not nil), until the returned function is called; that
// returns the lowest and highest limit read.
func watchLimit(t *testing.T, gw gatewayProc, after time.Duration, then func()) func() (lowest, highest int64) {
	t.Helper()
	stop, done := make(chan struct{}), make(chan struct{})
	lowest, highest := int64(1<<62), int64(0)
	go func() {
		defer close(done)
		select {
		case <-stop:
			return
		case <-time.After(after):
		}
		if then != nil {
			then()
		}
		for {
			var st gateway.Status
			getJSON(t, gw.admin("/status"), &st)
			l := int64(st.Limiter.Limit)
			lowest, highest = min(lowest, l), max(highest, l)
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() (int64, int64) {
		close(stop)
		<-done
		return lowest, highest
	}
}
