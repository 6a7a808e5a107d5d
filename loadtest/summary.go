package loadtest

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText writes a plain-text summary of r: the run, a table of the
// classes and the thresholds with their verdicts. The latency columns are
// of logical requests (retries and their pauses included); "try p50" and
// "try p99" are of each try alone.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "%s against %s: %.0fs, offered %.0f/s, achieved %.0f/s, late sends %d, dropped %d\n",
		r.Scenario, r.Target, r.DurationS, r.OfferedRPS, r.AchievedRPS, r.LateSends, r.Dropped)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tsent\tok\tshed\terrors\ttimeouts\tfailed\tsuccess\tgoodput/s\tmean ms\tp50 ms\tp95 ms\tp99 ms\tmax ms\ttries/req\ttry p50\ttry p99\t")
	row := func(name string, c *ClassReport) {
		tries := 0.0
		if c.Sent > 0 {
			tries = float64(c.Tries) / float64(c.Sent)
		}
		l, tl := c.LatencyMs, c.TryLatencyMs
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.2f%%\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.2f\t%.1f\t%.1f\t\n", name,
			c.Sent, c.OK, c.Shed, c.Errors, c.Timeouts, c.Failed, 100*c.Success, c.GoodputRPS,
			l.Mean, l.P50, l.P95, l.P99, l.Max, tries, tl.P50, tl.P99)
	}
	for _, name := range sortedKeys(r.Classes) {
		row(name, r.Classes[name])
	}
	if r.All != nil {
		row("all", r.All)
	}
	tw.Flush()
	g := r.Generator
	fmt.Fprintf(w, "generator: send lag p99 %.2fms max %.1fms, cpu max %.0f%% of %d cores, machine busy max %.0f%%, max in flight %d of %d, dropped retries %d\n",
		g.SendLagMs.P99, g.SendLagMs.Max, g.CPUMaxPct, g.Cores, g.MachineBusyMaxPct, g.MaxInFlight, g.InFlightCap, g.DroppedRetries)
	for _, t := range r.Thresholds {
		verdict := "FAIL"
		if t.Passed {
			verdict = "pass"
		}
		fmt.Fprintf(w, "  %s  %s  (actual %s)\n", verdict, t.Rule, fmtActual(t.Actual))
	}
	_, err := fmt.Fprintln(w)
	return err
}

// fmtActual formats a threshold's actual value.
func fmtActual(v *float64) string {
	if v == nil {
		return "undefined: nothing offered"
	}
	return fmt.Sprintf("%.4g", *v)
}
