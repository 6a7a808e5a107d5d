package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"shedgate/internal/proctest"
)

// prometheusTool returns the path of Debian's prometheus or promtool,
// installed by scripts/deps.sh prometheus (which .ci/run calls). Without
// it the test is skipped, unless SHEDGATE_REQUIRE_PROMETHEUS is set, as
// .ci/run does: then its absence is a failure.
func prometheusTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("SHEDGATE_REQUIRE_PROMETHEUS") != "" {
		t.Fatalf("%s not found: run scripts/deps.sh prometheus", name)
	}
	t.Skipf("%s not installed: scripts/deps.sh prometheus", name)
	return ""
}

// promLoad sends rps distinct show-code requests a second for d through
// gw, to an issuer too small for them: some are served, some shed.
func promLoad(t *testing.T, gw gatewayProc, rps int, d time.Duration) *loadResult {
	ids := makeIDs(rps*int(d.Seconds())+1, 7)
	return steadyLoad(t, rps, d, func(i int) (string, string, string) {
		return "GET", gw.url("/v1/codes/" + ids[i]), ""
	})
}

func scrape(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// TestMetricsPassPromtool runs promtool check metrics, Prometheus's own
// linter, on a live /metrics of a gateway that has served, shed and
// reloaded: it must report nothing.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := prometheusTool(t, "promtool")
	is := startIssuer(t, "-workers", "2", "-service-time", "20ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "", ""))
	res := promLoad(t, gw, 300, time.Second)
	if res.shed.Load() == 0 || res.ok.Load() == 0 {
		t.Fatalf("want answers served and shed: %s", res)
	}
	body := scrape(t, gw.admin("/metrics"))
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	for _, want := range []string{"# TYPE gateway_request_duration_seconds histogram",
		`gateway_request_duration_seconds_bucket{route="code",class="normal",le="0.005"}`,
		"# TYPE gateway_upstream_requests_total counter", "gateway_build_info{"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestPrometheusScrapesGateway starts Debian's prometheus scraping a
// gateway under load (every 500 ms) and asks it what an operator's
// dashboard asks: the p99 of request durations, from le buckets by
// histogram_quantile, and the shed rate by class.
func TestPrometheusScrapesGateway(t *testing.T) {
	bin := prometheusTool(t, "prometheus")
	is := startIssuer(t, "-workers", "2", "-service-time", "20ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "", ""))
	promAddr := freePort(t)
	target := strings.TrimPrefix(gw.admin(""), "http://")
	cfg := proctest.WriteFile(t, "prometheus.yml", fmt.Sprintf(`global:
  scrape_interval: 500ms
  evaluation_interval: 500ms
scrape_configs:
  - job_name: shedgate
    static_configs:
      - targets: [%q]
`, target))
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+t.TempDir(),
		"--web.listen-address="+promAddr, "--log.level=warn")
	var logs proctest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) //nolint:errcheck
	api := "http://" + promAddr
	waitReady(t, api+"/-/ready")
	// Prometheus passes targets on to its scrapers every 5 s at most:
	// wait for two scrapes before the load.
	for deadline := time.Now().Add(20 * time.Second); promQuery(t, api, `count_over_time(up[5s])`)[""] < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("prometheus scraped nothing in 20 s: %s", logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}

	res := promLoad(t, gw, 300, 4*time.Second)
	t.Logf("load: %s", res)
	time.Sleep(1500 * time.Millisecond) // two more scrapes
	p99 := promQuery(t, api, `histogram_quantile(0.99, sum by (le) (rate(gateway_request_duration_seconds_bucket{route="code"}[5s])))`)
	shed := promQuery(t, api, `sum by (class) (rate(gateway_limiter_rejected_total[5s]))`)
	up := promQuery(t, api, `up{job="shedgate"}`)
	t.Logf("p99 %v s; shed/s by class %v; up %v", p99, shed, up)
	if v := up[""]; v != 1 {
		t.Fatalf("up = %v; want 1 (prometheus logs: %s)", v, logs.String())
	}
	if v, ok := p99[""]; !ok || !(v > 0 && v <= 10) {
		t.Errorf("histogram_quantile(0.99) = %v, %v; want a duration in (0, 10] s", v, ok)
	}
	if shed["normal"] <= 0 {
		t.Errorf("shed rate of class normal = %v; want > 0 (the load shed %d)", shed["normal"], res.shed.Load())
	}
}

// promQuery runs an instant query and returns each series' value by its
// class label ("" for none).
func promQuery(t *testing.T, api, q string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, r.Status)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		out[s.Metric["class"]] = v
	}
	return out
}
