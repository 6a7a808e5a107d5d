package gateway_test

import (
	"fmt"
	"sync/atomic"
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

	var lowest atomic.Int64
	lowest.Store(1 << 30)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		time.Sleep(time.Second) // the first windows start at initial_limit
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var st gateway.Status
			getJSON(t, gw.admin("/status"), &st)
			if l := int64(st.Limiter.Limit); l < lowest.Load() {
				lowest.Store(l)
			}
		}
	}()
	res := steadyLoad(t, 400, 5*time.Second, func(i int) (string, string, string) {
		return "POST", gw.url("/v1/scans"), fmt.Sprintf(`{"code":%q,"site":"errs","sample_id":"e-%d"}`, code, i)
	})
	close(stop)
	<-sampled
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
	t.Logf("scans: %d sent, %d answered 500 by the issuer, %d shed by the gateway; lowest limit %d", sent, failed, shed, lowest.Load())
	if failed < (sent-shed)/10 {
		t.Fatalf("only %d of the %d scans the issuer saw failed: its error fault did not take", failed, sent-shed)
	}
	if shed > sent/100 {
		t.Errorf("%d of %d scans shed by the gateway; want <= 1%%", shed, sent)
	}
	if lowest.Load() < 5 {
		t.Errorf("the limit fell to %d; want >= half the issuer's 10 workers", lowest.Load())
	}
}
