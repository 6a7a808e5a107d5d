package loadtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// palette colours classes in the charts, in class order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

// pageStyle is the report page's CSS.
const pageStyle = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.pass{color:#fff;background:#2a7;padding:2px 8px;border-radius:4px}.fail{color:#fff;background:#c33;padding:2px 8px;border-radius:4px}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.muted{color:#666}
svg.chart{display:block;margin:4px 0 12px;background:#fff;border:1px solid #e4e4e4}
svg .title{font-weight:600;font-size:15px}svg .tick{font-size:12px;fill:#555}svg .legend{font-size:12px}
svg .grid{stroke:#eee}svg .axis{stroke:#888}svg .band{fill:#f3f6fa}svg .bandlabel{font-size:11px;fill:#789}
svg .mark{stroke:#333;stroke-dasharray:3 3}svg .marklabel{font-size:11px;fill:#333}
.warn{color:#a50}`

// WriteHTML writes r as a self-contained HTML page: summary, inline SVG
// charts (offered, ok, shed, errors and timeouts per second; latency
// percentiles per class over time) and tables. It loads nothing from the
// network. The report itself is embedded as JSON in
// <script type="application/json" id="report-data">.
func (r *Report) WriteHTML(w io.Writer) error {
	var b bytes.Buffer
	title := html.EscapeString(r.Scenario + " — " + r.Target)
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title><style>%s</style></head><body>\n",
		title, pageStyle)
	r.htmlHeader(&b)
	b.WriteString(r.rateChart().svg())
	b.WriteString(r.p99Chart().svg())
	for _, name := range sortedKeys(r.Classes) {
		b.WriteString(r.classChart(name).svg())
	}
	r.htmlTables(&b)
	data, err := json.Marshal(r) // escapes <, > and &: safe inside <script>
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	fmt.Fprintf(&b, "<script type=\"application/json\" id=\"report-data\">%s</script>\n</body></html>\n", data)
	_, err = w.Write(b.Bytes())
	return err
}

// htmlHeader writes the title, the verdict and the run's figures.
func (r *Report) htmlHeader(b *bytes.Buffer) {
	verdict := `<span class="pass">thresholds pass</span>`
	if !r.Passed() {
		verdict = `<span class="fail">thresholds fail</span>`
	}
	fmt.Fprintf(b, "<h1>%s %s</h1>\n", html.EscapeString(r.Scenario), verdict)
	if r.Description != "" {
		fmt.Fprintf(b, "<p>%s</p>\n", html.EscapeString(r.Description))
	}
	fmt.Fprintf(b, `<p class="muted">target %s · started %s · %.0f s scheduled (%.1f s with the last answers) · offered %.0f/s · achieved %.0f/s · late sends %d · dropped %d · goodput %.0f ok/s</p>`+"\n",
		html.EscapeString(r.Target), r.StartedAt.Format("2006-01-02 15:04:05 MST"), r.DurationS, r.WallS,
		r.OfferedRPS, r.AchievedRPS, r.LateSends, r.Dropped, all(r).GoodputRPS)
	for _, wmsg := range r.Generator.Warnings {
		fmt.Fprintf(b, "<p class=\"warn\">generator: %s</p>\n", html.EscapeString(wmsg))
	}
}

// timelineSeries returns one value per second of the timeline.
func (r *Report) timelineSeries(f func(s *Second) float64) []float64 {
	ys := make([]float64, len(r.Timeline))
	for i := range r.Timeline {
		ys[i] = f(&r.Timeline[i])
	}
	return ys
}

// decorate adds the phases and the actions to c.
func (r *Report) decorate(c *chart) {
	c.width = math.Max(float64(len(r.Timeline)), r.DurationS)
	for _, p := range r.Phases {
		label := fmt.Sprintf("%s %.0f/s", p.Kind, p.From)
		if p.From != p.To {
			label = fmt.Sprintf("%s %.0f→%.0f/s", p.Kind, p.From, p.To)
		}
		c.bands = append(c.bands, band{from: p.StartS, to: p.EndS, label: label})
	}
	for _, a := range r.Actions {
		c.marks = append(c.marks, mark{x: a.AtS, label: actionLabel(a)})
	}
}

// actionLabel is an action's short label on the charts.
func actionLabel(a ActionResult) string {
	body := a.Body
	if len(body) > 40 {
		body = body[:40] + "…"
	}
	if body == "" {
		return "POST " + a.URL
	}
	return body
}

// rateChart is offered vs outcomes per second.
func (r *Report) rateChart() *chart {
	c := &chart{title: "Requests per second, by scheduled second: offered vs ok, shed, errors, timeouts", unit: "req/s"}
	r.decorate(c)
	c.series = []series{
		{name: "offered", color: "#888", dash: true, ys: r.timelineSeries(func(s *Second) float64 { return float64(s.Offered) })},
		{name: "ok", color: "#2ca02c", ys: r.timelineSeries(func(s *Second) float64 { return float64(s.OK) })},
		{name: "shed", color: "#ff7f0e", ys: r.timelineSeries(func(s *Second) float64 { return float64(s.Shed) })},
		{name: "errors", color: "#d62728", ys: r.timelineSeries(func(s *Second) float64 { return float64(s.Errors) })},
		{name: "timeouts", color: "#9467bd", ys: r.timelineSeries(func(s *Second) float64 { return float64(s.Timeouts) })},
	}
	if r.Dropped > 0 {
		c.series = append(c.series, series{name: "dropped (not sent)", color: "#111", dash: true,
			ys: r.timelineSeries(func(s *Second) float64 { return float64(s.Dropped) })})
	}
	return c
}

// p99Chart is every class's p99 per second.
func (r *Report) p99Chart() *chart {
	c := &chart{title: "p99 latency per class, by scheduled second (log scale)", unit: "ms", logY: true}
	r.decorate(c)
	for i, name := range sortedKeys(r.Classes) {
		c.series = append(c.series, series{name: name, color: palette[i%len(palette)],
			ys: r.classSeries(name, func(sc *SecondClass) float64 { return sc.P99Ms })})
	}
	return c
}

// classChart is one class's latency percentiles per second.
func (r *Report) classChart(name string) *chart {
	c := &chart{title: "Latency of " + name + ": p50, p90, p99, max per scheduled second (log scale)", unit: "ms", logY: true}
	r.decorate(c)
	c.series = []series{
		{name: "p50", color: "#2ca02c", ys: r.classSeries(name, func(sc *SecondClass) float64 { return sc.P50Ms })},
		{name: "p90", color: "#1f77b4", ys: r.classSeries(name, func(sc *SecondClass) float64 { return sc.P90Ms })},
		{name: "p99", color: "#d62728", ys: r.classSeries(name, func(sc *SecondClass) float64 { return sc.P99Ms })},
		{name: "max", color: "#999", dash: true, ys: r.classSeries(name, func(sc *SecondClass) float64 { return sc.MaxMs })},
	}
	return c
}

// classSeries returns f of class name per second; NaN where nothing of
// the class completed.
func (r *Report) classSeries(name string, f func(*SecondClass) float64) []float64 {
	return r.timelineSeries(func(s *Second) float64 {
		sc, ok := s.Classes[name]
		if !ok || sc.OK+sc.Shed+sc.Errors+sc.Timeouts == 0 {
			return math.NaN()
		}
		return f(sc)
	})
}

// htmlTables writes the classes, thresholds, generator, setup and actions
// tables.
func (r *Report) htmlTables(b *bytes.Buffer) {
	b.WriteString("<h2>Classes</h2>\n<table><tr><th>class</th><th>sent</th><th>tries</th><th>ok</th><th>shed</th><th>errors</th><th>timeouts</th><th>dropped</th><th>success</th><th>goodput/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>statuses (per try)</th></tr>\n")
	row := func(name string, c *ClassReport) {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%.2f%%</td><td>%.0f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%s</td></tr>\n",
			html.EscapeString(name), c.Sent, c.Tries, c.OK, c.Shed, c.Errors, c.Timeouts, c.Dropped, 100*c.Success, c.GoodputRPS,
			c.LatencyMs.P50, c.LatencyMs.P90, c.LatencyMs.P99, c.LatencyMs.P999, c.LatencyMs.Max, html.EscapeString(statusList(c.Status)))
	}
	for _, name := range sortedKeys(r.Classes) {
		row(name, r.Classes[name])
	}
	row("all", all(r))
	b.WriteString("</table>\n<h2>Thresholds</h2>\n<table><tr><th>rule</th><th>actual</th><th>verdict</th></tr>\n")
	for _, t := range r.Thresholds {
		v := `<span class="fail">fail</span>`
		if t.Passed {
			v = `<span class="pass">pass</span>`
		}
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n", html.EscapeString(t.Rule), fmtActual(t.Actual), v)
	}
	g := r.Generator
	fmt.Fprintf(b, "</table>\n<h2>Generator</h2>\n<p>send lag p50 %.2f ms, p99 %.2f ms, max %.1f ms (late over %.0f ms: %d) · CPU max %.0f%%, average %.0f%% of one core, %d cores · machine busy max %.0f%% · in flight max %d of %d · %d connections · dropped retries %d</p>\n",
		g.SendLagMs.P50, g.SendLagMs.P99, g.SendLagMs.Max, g.LateThresholdMs, r.LateSends, g.CPUMaxPct, g.CPUAvgPct, g.Cores,
		g.MachineBusyMaxPct, g.MaxInFlight, g.InFlightCap, g.Connections, g.DroppedRetries)
	if r.Setup.Requests > 0 {
		fmt.Fprintf(b, "<p>setup: %d codes fetched from %s in %.1f s (%d requests, not counted; %d keys without a code)</p>\n",
			r.Setup.Codes, html.EscapeString(r.Setup.Target), r.Setup.Seconds, r.Setup.Requests, r.Setup.Failed)
	}
	if len(r.Actions) > 0 {
		b.WriteString("<h2>Actions</h2>\n<table><tr><th>at</th><th>POST</th><th>body</th><th>status</th><th>error</th></tr>\n")
		for _, a := range r.Actions {
			fmt.Fprintf(b, "<tr><td>%.1fs</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td></tr>\n", a.AtS,
				html.EscapeString(a.URL), html.EscapeString(a.Body), a.Status, html.EscapeString(a.Error))
		}
		b.WriteString("</table>\n")
	}
}

// statusList formats status counts as "200: 5, 503: 2".
func statusList(m map[string]int64) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
