package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium returns the path of Debian's chromium, installed by
// scripts/deps.sh (which .ci/run calls). Without it the test is skipped,
// unless SHEDGATE_REQUIRE_CHROMIUM is set, as .ci/run does: then its
// absence is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("SHEDGATE_REQUIRE_CHROMIUM") != "" {
		t.Fatalf("chromium not found: run scripts/deps.sh chromium")
	}
	t.Skip("chromium not installed: scripts/deps.sh chromium")
	return ""
}

// dumpDOM loads url in headless Chromium, lets its scripts run for budget
// of virtual time, and returns the resulting DOM.
func dumpDOM(t *testing.T, url string, budget time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium(t), "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		fmt.Sprintf("--virtual-time-budget=%d", budget.Milliseconds()), "--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}
	return string(out)
}

var historyRe = regexp.MustCompile(`data-history="([^"]*)"`)

// TestOperatorPageShowsLiveFigures loads the operator's page in headless
// Chromium against a gateway under load and checks that the figures it
// shows change from one poll of /status to the next. Chromium runs the
// page in virtual time (its polls a second apart come milliseconds apart):
// the page's rates are over the gateway's uptime_s, which is real.
func TestOperatorPageShowsLiveFigures(t *testing.T) {
	chromium(t)
	is := startIssuer(t, "-workers", "16", "-service-time", "2ms")
	gw := startGateway(t, cacheConfig(is.addr(), ""))
	ids := makeIDs(2000, 41)
	// The load runs until the page has been read, one second at a time
	// (at most a minute): Chromium's start took from under a second to
	// 16 s on this machine, and a fixed 12 s of load once ended before
	// the page's first poll.
	stop, loadDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(loadDone)
		for i := 0; i < 60; i++ {
			select {
			case <-stop:
				return
			default:
			}
			steadyLoad(t, 400, time.Second, func(j int) (string, string, string) {
				return "GET", gw.url("/v1/codes/" + ids[(400*i+j)%len(ids)]), ""
			})
		}
	}()
	time.Sleep(2 * time.Second)
	dom := dumpDOM(t, gw.admin("/"), 5*time.Second)
	close(stop)
	<-loadDone

	m := historyRe.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no chart data on the page; DOM:\n%.2000s", dom)
	}
	var history []struct {
		T     float64 `json:"t"`
		RPS   float64 `json:"rps"`
		OK    float64 `json:"ok"`
		Limit float64 `json:"limit"`
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &history); err != nil {
		t.Fatalf("chart data %q: %v", m[1], err)
	}
	if len(history) < 2 {
		t.Fatalf("the page polled %d times; want at least 2 (history %+v)", len(history)+1, history)
	}
	moving := 0
	for _, h := range history {
		if h.RPS > 0 && h.OK > 0 {
			moving++
		}
	}
	if moving < 2 || history[0].T >= history[len(history)-1].T {
		t.Fatalf("figures did not change under load: %+v", history)
	}
	for _, id := range []string{`id="t-rps">`, `id="t-limit">`, `id="t-hit">`} {
		i := strings.Index(dom, id)
		if i < 0 || strings.HasPrefix(dom[i+len(id):], "–<") {
			t.Fatalf("tile %s shows no figure", id)
		}
	}
	t.Logf("operator page: %d polls under load, last %+v", len(history)+1, history[len(history)-1])
}
