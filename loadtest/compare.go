package loadtest

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// WriteComparison writes reports side by side, one column per report
// under its label: goodput, then success, p99 and shed per class, then
// the totals. It is the table `make rehearsal` prints (direct against
// the issuer, then through the gateway).
func WriteComparison(w io.Writer, labels []string, reports []*Report) error {
	if len(labels) != len(reports) {
		panic("BUG: loadtest.WriteComparison: labels and reports differ in length")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(name string, cell func(r *Report) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, r := range reports {
			fmt.Fprintf(tw, "%s\t", cell(r))
		}
		fmt.Fprintln(tw)
	}
	line("", func(r *Report) string { return labels[indexOf(reports, r)] })
	line("offered req/s", func(r *Report) string { return fmt.Sprintf("%.0f", r.OfferedRPS) })
	line("achieved req/s", func(r *Report) string { return fmt.Sprintf("%.0f", r.AchievedRPS) })
	line("goodput ok/s", func(r *Report) string { return fmt.Sprintf("%.0f", all(r).GoodputRPS) })
	for _, c := range classNames(reports) {
		line(c+" success", func(r *Report) string { return cls(r, c, func(x *ClassReport) string { return pct(x.Success) }) })
		line(c+" p99 ms", func(r *Report) string {
			return cls(r, c, func(x *ClassReport) string { return fmt.Sprintf("%.0f", x.LatencyMs.P99) })
		})
		line(c+" shed", func(r *Report) string { return cls(r, c, func(x *ClassReport) string { return fmt.Sprint(x.Shed) }) })
	}
	line("all success", func(r *Report) string { return pct(all(r).Success) })
	line("all shed", func(r *Report) string { return fmt.Sprint(all(r).Shed) })
	line("all timeouts", func(r *Report) string { return fmt.Sprint(all(r).Timeouts) })
	line("all errors", func(r *Report) string { return fmt.Sprint(all(r).Errors) })
	line("tries / request", func(r *Report) string {
		if a := all(r); a.Sent > 0 {
			return fmt.Sprintf("%.2f", float64(a.Tries)/float64(a.Sent))
		}
		return "-"
	})
	line("thresholds", func(r *Report) string {
		n := 0
		for _, t := range r.Thresholds {
			if t.Passed {
				n++
			}
		}
		return fmt.Sprintf("%d/%d pass", n, len(r.Thresholds))
	})
	return tw.Flush()
}

// indexOf returns the index of r in rs.
func indexOf(rs []*Report, r *Report) int {
	for i, x := range rs {
		if x == r {
			return i
		}
	}
	return -1
}

// all returns r.All, or an empty class when missing.
func all(r *Report) *ClassReport {
	if r.All == nil {
		return &ClassReport{}
	}
	return r.All
}

// cls formats class c of r with f, "-" when r has no such class.
func cls(r *Report, c string, f func(*ClassReport) string) string {
	x, ok := r.Classes[c]
	if !ok {
		return "-"
	}
	return f(x)
}

// pct formats a ratio as a percentage.
func pct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

// classNames returns the classes of all reports, sorted.
func classNames(rs []*Report) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		for c := range r.Classes {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	sort.Strings(out)
	return out
}
