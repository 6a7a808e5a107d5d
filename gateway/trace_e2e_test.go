package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// traceGateways, when SHEDGATE_TRACE is set and a surge runs through the
// gateway (one or several), reads each one's /status every 100 ms and logs one
// line per reading when the returned function is called: for each
// gateway, P while probing, the limit (L), in flight (f), minimum,
// baseline and p90 RTT (m, b, p, ms), the tolerance in force (t), local
// delay (d), check-ins shed so
// far (hs) and the share admitted of classes high/normal/low (a). It is
// how the three-gateway runs' losses were traced to limits sinking at one
// gateway (limiter/doc.go), and a polite run's low limit to RTTs that the
// local delay had taken down to an eighth (Limiter.correctionFloor).
func traceGateways(t *testing.T, gws []gatewayProc) func() {
	if os.Getenv("SHEDGATE_TRACE") == "" || len(gws) == 0 {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan []string)
	go func() {
		var lines []string
		start := time.Now()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- lines
				return
			case <-tick.C:
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%5.1f", time.Since(start).Seconds())
			for _, g := range gws {
				var st struct {
					Limiter struct {
						Limit    int     `json:"limit"`
						InFlight int     `json:"in_flight"`
						Probing  bool    `json:"probing"`
						Min      float64 `json:"min_rtt_ms"`
						Base     float64 `json:"baseline_rtt_ms"`
						P90      float64 `json:"p90_rtt_ms"`
						Tol      float64 `json:"tolerance"`
						Local    float64 `json:"local_delay_ms"`
						Classes  []struct {
							Shed      uint64  `json:"shed"`
							Admitting float64 `json:"admitting"`
						} `json:"classes"`
					} `json:"limiter"`
				}
				resp, err := http.Get(g.admin("/status"))
				if err != nil {
					fmt.Fprintf(&b, " | %v", err)
					continue
				}
				err = json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
				l := st.Limiter
				if err != nil || len(l.Classes) < 4 {
					fmt.Fprintf(&b, " | unreadable /status (%v)", err)
					continue
				}
				p := " "
				if l.Probing {
					p = "P"
				}
				fmt.Fprintf(&b, " | %sL%2d f%2d m%4.1f b%4.1f p%5.1f t%.1f d%4.1f hs%4d a%.2f/%.2f/%.2f", p, l.Limit, l.InFlight,
					l.Min, l.Base, l.P90, l.Tol, l.Local, l.Classes[1].Shed, l.Classes[1].Admitting, l.Classes[2].Admitting, l.Classes[3].Admitting)
			}
			lines = append(lines, b.String())
		}
	}()
	return func() {
		close(stop)
		for _, l := range <-done {
			t.Log(l)
		}
	}
}
