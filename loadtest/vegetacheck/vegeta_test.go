package vegetacheck

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// report is the part of the harness's JSON report this test reads.
type report struct {
	All struct {
		Sent         int64            `json:"sent"`
		Failed       int64            `json:"failed"`
		Status       map[string]int64 `json:"status"`
		TryLatencyMs struct {
			P50, P95, P99, Mean float64
		} `json:"try_latency_ms"`
	} `json:"all"`
}

// TestHarnessAgreesWithVegeta sends 300 GETs a second for 4 s to the
// simulated issuer (10 ms of service, 10% of answers 500) from the harness
// and then from vegeta, and compares their latency percentiles of a try
// (vegeta's only kind), their status counts and their failed totals.
func TestHarnessAgreesWithVegeta(t *testing.T) {
	const rate, seconds = 300, 4
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/loadtest", "./cmd/issuer-sim")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	issuer := exec.Command(dir+"/issuer-sim", "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0",
		"-workers", "64", "-service-time", "10ms", "-error-rate", "0.1")
	addr := listening(t, issuer)
	url := "http://" + addr + "/v1/keys"

	scenario := filepath.Join(dir, "s.yaml")
	os.WriteFile(scenario, []byte(fmt.Sprintf(`name: vegeta-check
target: http://%s
timeout: 2s
phases: [{kind: constant, rate: %d, duration: %ds}]
requests: [{class: keys, path: /v1/keys}]
`, addr, rate, seconds)), 0o644) //nolint:errcheck
	rep := filepath.Join(dir, "r.json")
	if out, err := exec.Command(dir+"/loadtest", "-quiet", "-report", rep, scenario).CombinedOutput(); err != nil {
		t.Fatalf("loadtest: %v\n%s", err, out)
	}
	var h report
	b, _ := os.ReadFile(rep)
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}

	attacker := vegeta.NewAttacker(vegeta.Timeout(2 * time.Second))
	tgt := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: url})
	var m vegeta.Metrics
	for res := range attacker.Attack(tgt, vegeta.Rate{Freq: rate, Per: time.Second}, seconds*time.Second, "check") {
		m.Add(res)
	}
	m.Close()

	hp50, hp99 := h.All.TryLatencyMs.P50, h.All.TryLatencyMs.P99
	vp50, vp99 := ms(m.Latencies.P50), ms(m.Latencies.P99)
	vFailed := int64(math.Round(float64(m.Requests) * (1 - m.Success)))
	t.Logf("harness: sent %d, status %v, failed %d, try p50 %.2f ms p95 %.2f p99 %.2f mean %.2f",
		h.All.Sent, h.All.Status, h.All.Failed, hp50, h.All.TryLatencyMs.P95, hp99, h.All.TryLatencyMs.Mean)
	t.Logf("vegeta:  sent %d, status %v, failed %d, p50 %.2f ms p95 %.2f p99 %.2f mean %.2f",
		m.Requests, m.StatusCodes, vFailed, vp50, ms(m.Latencies.P95), vp99, ms(m.Latencies.Mean))

	if want := int64(rate * seconds); h.All.Sent != want || int64(m.Requests) != want {
		t.Errorf("sent: harness %d, vegeta %d; want %d each", h.All.Sent, m.Requests, want)
	}
	share := func(n, of float64) float64 { return n / max(of, 1) }
	h500, v500 := share(float64(h.All.Status["500"]), float64(h.All.Sent)), share(float64(m.StatusCodes["500"]), float64(m.Requests))
	if math.Abs(h500-v500) > 0.05 || h500 < 0.03 {
		t.Errorf("share of 500: harness %.3f, vegeta %.3f; want both near 0.1, within 0.05", h500, v500)
	}
	if hf := share(float64(h.All.Failed), float64(h.All.Sent)); math.Abs(hf-share(float64(vFailed), float64(m.Requests))) > 0.05 {
		t.Errorf("failed share: harness %.3f, vegeta %d of %d", hf, vFailed, m.Requests)
	}
	close := func(name string, a, b, slack float64) {
		if a > 2*b+slack || b > 2*a+slack {
			t.Errorf("%s: harness %.2f ms, vegeta %.2f ms; want within 2x + %.0f ms", name, a, b, slack)
		}
	}
	close("p50", hp50, vp50, 2)
	close("p99", hp99, vp99, 10)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// listening starts cmd, stopped at the test's end, and returns the first
// address of its "listening on A ..." line.
func listening(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) //nolint:errcheck
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if _, rest, ok := strings.Cut(s.Text(), "listening on "); ok {
				lines <- strings.Fields(rest)[0]
				return
			}
		}
	}()
	select {
	case a := <-lines:
		for range 50 { // the API answers once it listens; wait for it anyway
			if resp, err := http.Get("http://" + a + "/v1/keys"); err == nil {
				resp.Body.Close()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return a
	case <-time.After(15 * time.Second):
		t.Fatal("issuer-sim not listening after 15 s")
		return ""
	}
}
