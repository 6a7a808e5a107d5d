package loadtest

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The HTML report is self-contained and holds the chart data: the report
// as JSON, and SVG lines for offered, ok, shed, errors and timeouts per
// second and for each class's latency percentiles.
func TestHTMLReportHoldsChartData(t *testing.T) {
	var n atomic.Int64
	srv := startServer(t, func(ctx *fasthttp.RequestCtx) {
		if n.Add(1)%4 == 0 {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		}
		time.Sleep(time.Millisecond)
	})
	s := parse(t, `
name: chart-test
phases: [{rate: 20, duration: 1s}, {kind: ramp, from: 20, to: 40, duration: 1s}]
requests:
  - {class: show, path: /a}
  - {class: scan, path: /b, method: POST, body: "<x>"}
thresholds: ["scan.success >= 0.99"]
`)
	r := run(t, s, Options{Target: srv.url})
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"<!DOCTYPE html>", "chart-test", "thresholds fail", `<svg class="chart"`,
		`data-series="offered"`, `data-series="ok"`, `data-series="shed"`, `data-series="p99"`, `data-series="scan"`,
		`Latency of show`, `<script type="application/json" id="report-data">`} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`(?i)(src|href)="https?:`).FindString(page); m != "" {
		t.Errorf("HTML report loads %s: want it self-contained", m)
	}
	pts := regexp.MustCompile(`data-series="ok" [^>]*points="([^"]+)"`).FindStringSubmatch(page)
	if pts == nil || len(strings.Fields(pts[1])) != 2 {
		t.Errorf("ok series %v; want a point for each of the 2 seconds", pts)
	}
	blob := regexp.MustCompile(`(?s)id="report-data">(.*?)</script>`).FindStringSubmatch(page)
	var back Report
	if blob == nil || json.Unmarshal([]byte(blob[1]), &back) != nil || len(back.Timeline) != 2 || back.Timeline[1].Offered != 30 {
		t.Fatalf("embedded report does not parse back with its 2-second timeline")
	}
	if back.Classes["scan"].Shed+back.Classes["show"].Shed == 0 {
		t.Errorf("embedded report has no shed requests; the server shed one in four")
	}
}
