package gateway_test

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"

	"shedgate/gateway"
)

// TestRoundTripsAreKernelTimed: the gateway times its round trips to a
// real issuer by kernel receive timestamps where the platform has them,
// and says so on /status and /metrics; the minimum round trip it
// measures is the issuer's service time.
func TestRoundTripsAreKernelTimed(t *testing.T) {
	is := startIssuer(t, "-workers", "4", "-service-time", "20ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "", ""))
	for i := range 30 {
		if code, _, body := do(t, "GET", gw.url("/v1/health/"+strconv.Itoa(i)), ""); code >= 500 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	var st gateway.Status
	getJSON(t, gw.admin("/status"), &st)
	l := st.Limiter
	want := "wall"
	if runtime.GOOS == "linux" {
		want = "kernel"
	}
	t.Logf("rtt_timing %s, kernel_timed %d, wall_timed %d, min_rtt_ms %.1f, local_delay_ms %.2f", l.RTTTiming, l.KernelTimed, l.WallTimed, l.MinRTTMs, l.LocalDelayMs)
	if l.RTTTiming != want {
		t.Errorf("rtt_timing %q, want %q", l.RTTTiming, want)
	}
	if want == "kernel" && (l.KernelTimed < 30 || l.WallTimed != 0) {
		t.Errorf("answers timed: kernel %d, wall %d; want >= 30 and 0", l.KernelTimed, l.WallTimed)
	}
	if l.MinRTTMs < 19 || l.MinRTTMs > 40 {
		t.Errorf("min_rtt_ms %.1f; want about the issuer's 20 ms", l.MinRTTMs)
	}
	body := scrape(t, gw.admin("/metrics"))
	if line := []byte(`gateway_upstream_rtt_timing{source="` + want + `"} 1`); !bytes.Contains(body, line) {
		t.Errorf("/metrics lacks %s", line)
	}
	if !bytes.Contains(body, []byte(`gateway_upstream_answers_timed_total{source="kernel"}`)) {
		t.Errorf("/metrics lacks gateway_upstream_answers_timed_total")
	}
}
