package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shedgate/internal/proctest"
	"shedgate/loadtest"
)

// sheddingConfig fronts issuer with the shipped classes, an adaptive limit
// starting at initial (between 1 and 150), and uncached routes, so that all
// load reaches admission.
func sheddingConfig(target string, initial int, perKey string) string {
	return configHead("", "issuer", strconv.Quote(target), "") + fmt.Sprintf(`limiter:
  initial_limit: %d
  min_limit: 1
  max_limit: 150
  classes:%s
routes:
  - {name: scan, method: POST, path: /v1/scans, upstream: issuer, class: critical}
  - {name: code, method: GET, path: "/v1/codes/{id}", upstream: issuer, class: normal, key: "{id}"%s}
  - {name: reissue, method: POST, path: "/v1/codes/{id}/reissue", upstream: issuer, class: low, key: "{id}"}
  - {name: passthrough, path: "/*", upstream: issuer, class: normal}
`, initial, shippedClasses, perKey)
}

// runLoadtest runs the real harness on scenario against target and
// returns its report.
func runLoadtest(t *testing.T, scenario, target, setupTarget string) *loadtest.Report {
	t.Helper()
	return runLoadtestArgs(t, scenario, target, setupTarget)
}

func runLoadtestArgs(t *testing.T, scenario, target, setupTarget string, extra ...string) *loadtest.Report {
	t.Helper()
	return runLoadtestArgsOn(t, -1, scenario, target, setupTarget, extra...)
}

// runLoadtestArgsOn is runLoadtestArgs with the generator pinned to CPU
// cpu (taskset; -1: anywhere).
func runLoadtestArgsOn(t *testing.T, cpu int, scenario, target, setupTarget string, extra ...string) *loadtest.Report {
	t.Helper()
	bin := proctest.Build(t, "shedgate/cmd/loadtest")
	report := filepath.Join(t.TempDir(), "report.json")
	args := append([]string{"-quiet", "-target", target, "-setup-target", setupTarget, "-report", report}, extra...)
	argv := onCPU(t, cpu, append(append([]string{bin}, args...), scenario))
	code, out := proctest.Run(t, 5*time.Minute, argv[0], argv[1:]...)
	if code != 0 && code != 99 { // 99: a threshold failed, which the caller judges
		t.Fatalf("loadtest exit %d:\n%s", code, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("read report: %v\n%s", err, out)
	}
	var r loadtest.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode report: %v", err)
	}
	g := r.Generator
	t.Logf("loadtest: offered %.0f/s achieved %.0f/s late %d dropped %d (retries %d); %d tries; in flight max %d of %d; its CPU max %.0f%%, avg %.0f%% of a core; machine busy max %.0f%%",
		r.OfferedRPS, r.AchievedRPS, r.LateSends, r.Dropped, g.DroppedRetries, r.All.Tries, g.MaxInFlight, g.InFlightCap, g.CPUMaxPct, g.CPUAvgPct, g.MachineBusyMaxPct)
	return &r
}

// TestShedsByPriorityAt10x: at ten times the issuer's capacity (10 workers
// x 20 ms = 500/s), with scans at 20% of it, every scan gets through, the
// lower classes take the rejections (low before normal), the issuer never
// holds more than max_limit requests and keeps serving near its capacity;
// with the initial limit ten times too high (120 for about 12) and ten
// times too low (1).
func TestShedsByPriorityAt10x(t *testing.T) {
	scenario := filepath.Join(proctest.ModuleRoot(), "configs/scenarios/shed-10x.yaml")
	for _, initial := range []int{120, 1} {
		t.Run(fmt.Sprintf("initial_limit=%d", initial), func(t *testing.T) {
			is := startIssuer(t, "-workers", "10", "-service-time", "20ms")
			gw := startGateway(t, sheddingConfig(is.addr(), initial, ""))
			r := runLoadtest(t, scenario, "http://"+gw.Addrs[0], "http://"+is.addr())
			st := is.stats(t)
			scan, issue, reissue := r.Classes["scan"], r.Classes["issue"], r.Classes["reissue"]
			t.Logf("scan %d sent %.4f success p99 %.0fms; issue %.3f success; reissue %.3f success; issuer served %d, max in flight %d, p99 %.0fms",
				scan.Sent, scan.Success, scan.LatencyMs.P99, issue.Success, reissue.Success, st.Served, st.MaxInFlight, st.LatencyMs.P99)
			if scan.Success < 0.999 {
				t.Errorf("scan success %.4f (%d ok, %d shed, %d errors, %d timeouts of %d); want >= 0.999",
					scan.Success, scan.OK, scan.Shed, scan.Errors, scan.Timeouts, scan.Sent)
			}
			if reissue.Success > issue.Success+0.02 {
				t.Errorf("low class success %.3f above normal's %.3f; want the lower class shed first", reissue.Success, issue.Success)
			}
			if issue.Shed == 0 {
				t.Errorf("normal class shed nothing at 10x capacity: the test did not overload")
			}
			if st.MaxInFlight > 150 {
				t.Errorf("issuer held %d requests at once; want at most max_limit 150", st.MaxInFlight)
			}
			// 8 s at its capacity of 500/s, and the 2+4 s at 250/s that are
			// all it is offered then. Loose: 89-96% on a quiet machine, 78%
			// in a CI run whose generator sent 2,851 requests late (the
			// machine stalled); a limit that starves the issuer serves a few %.
			if capacityUsed := float64(st.Served) / (8*500 + 6*250); capacityUsed < 0.7 {
				t.Errorf("issuer served %d requests, %.0f%% of what it could; want it kept busy (>= 70%%)", st.Served, 100*capacityUsed)
			}
		})
	}
}

// TestPerKeyRate: one key sending 100 req/s on a route limited to 5/s per
// key gets about 5/s through and 429 with Retry-After for the rest, while
// other keys at their rate are unaffected.
func TestPerKeyRate(t *testing.T) {
	is := startIssuer(t, "-workers", "32", "-service-time", "1ms")
	gw := startGateway(t, sheddingConfig(is.addr(), 20, ", per_key: {rate: 5, per: 1s}"))
	ids := makeIDs(9, 31)
	hot, others := ids[0], ids[1:]
	const seconds = 4

	var hotOK, hot429, hotOther, noRetryAfter atomic.Int64
	done := make(chan *loadResult)
	go func() {
		done <- steadyLoad(t, 5*len(others), seconds*time.Second, func(i int) (string, string, string) {
			return "GET", gw.url("/v1/codes/" + others[i%len(others)]), ""
		})
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 100 * seconds {
		time.Sleep(time.Until(start.Add(time.Duration(i) * 10 * time.Millisecond)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(gw.url("/v1/codes/" + hot))
			if err != nil {
				hotOther.Add(1)
				return
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			switch resp.StatusCode {
			case 200:
				hotOK.Add(1)
			case 429:
				hot429.Add(1)
				if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
					noRetryAfter.Add(1)
				}
			default:
				hotOther.Add(1)
			}
		}()
	}
	wg.Wait()
	rest := <-done
	t.Logf("hot key: %d ok (%.1f/s), %d 429; other keys: %s", hotOK.Load(), float64(hotOK.Load())/seconds, hot429.Load(), rest)
	// 5/s for 4 s plus the initial burst of 5, give or take a token.
	if ok := hotOK.Load(); ok < 20 || ok > 28 {
		t.Errorf("hot key got %d through in %ds; want about 5/s (20..28)", ok, seconds)
	}
	if hot429.Load() < 350 || noRetryAfter.Load() != 0 || hotOther.Load() != 0 {
		t.Errorf("hot key: %d 429 (%d without Retry-After), %d other; want the rest 429 with Retry-After", hot429.Load(), noRetryAfter.Load(), hotOther.Load())
	}
	if rest.ok.Load() != rest.sent.Load() {
		t.Errorf("other keys: %s; want every request answered 200", rest)
	}
}
