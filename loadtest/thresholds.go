package loadtest

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Threshold is a parsed rule "<scope>.<metric> <op> <number>", such as
// "scan.success >= 0.999". The scope is a class of the scenario, "all"
// (every class together) or "run" (the generator).
//
// Class and all metrics: success (ok / offered), shed (shed / offered),
// errors ((errors + timeouts) / offered), timeouts, dropped (ratios of the
// logical requests offered, dropped included), failed ((shed + errors +
// timeouts) / offered), p50_ms, p90_ms, p95_ms, p99_ms, p999_ms, max_ms,
// mean_ms (latency of logical requests from their scheduled time),
// try_p50_ms, try_p95_ms, try_p99_ms (latency of each try alone),
// goodput_rps (ok per second of the run), sent, ok (counts),
// tries_per_request (tries / sent: what retries multiply).
//
// Run metrics: achieved_ratio (achieved / offered rate), achieved_rps,
// offered_rps, late_sends, dropped, send_lag_p99_ms.
//
// The operators are <=, <, >=, >, == and !=. A ratio of a class that
// offered nothing is undefined, and a rule on it fails.
type Threshold struct {
	Rule   string
	Scope  string
	Metric string
	Op     string
	Value  float64
}

// ThresholdResult is a Threshold checked against a report.
type ThresholdResult struct {
	Rule   string   `json:"rule"`
	Passed bool     `json:"passed"`
	Actual *float64 `json:"actual"` // nil when undefined
}

var thresholdRe = regexp.MustCompile(`^\s*([a-z0-9][a-z0-9_-]*)\.([a-z0-9_]+)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$`)

// Metric names by scope.
var (
	classMetrics = []string{"success", "shed", "errors", "timeouts", "dropped", "failed", "p50_ms", "p90_ms", "p95_ms",
		"p99_ms", "p999_ms", "max_ms", "mean_ms", "try_p50_ms", "try_p95_ms", "try_p99_ms", "goodput_rps", "sent", "ok",
		"tries_per_request"}
	runMetrics = []string{"achieved_ratio", "achieved_rps", "offered_rps", "late_sends", "dropped", "send_lag_p99_ms"}
)

// ParseThreshold parses rule; classes are the scenario's class labels.
func ParseThreshold(rule string, classes []string) (Threshold, error) {
	m := thresholdRe.FindStringSubmatch(rule)
	if m == nil {
		return Threshold{}, fmt.Errorf("bad rule %q: want <class>.<metric> <op> <number>, such as \"scan.success >= 0.999\"", rule)
	}
	t := Threshold{Rule: strings.TrimSpace(rule), Scope: m[1], Metric: m[2], Op: m[3]}
	v, err := strconv.ParseFloat(m[4], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return t, fmt.Errorf("bad rule %q: %q is not a number", rule, m[4])
	}
	t.Value = v
	metrics := classMetrics
	switch {
	case t.Scope == "run":
		metrics = runMetrics
	case t.Scope != "all" && !contains(classes, t.Scope):
		return t, fmt.Errorf("bad rule %q: no class %q (have %s, all, run)", rule, t.Scope, strings.Join(classes, ", "))
	}
	if !contains(metrics, t.Metric) {
		return t, fmt.Errorf("bad rule %q: unknown metric %q for %s (have %s)", rule, t.Metric, t.Scope, strings.Join(metrics, ", "))
	}
	if strings.HasSuffix(t.Metric, "_ms") || t.Metric == "success" || t.Metric == "shed" || t.Metric == "errors" {
		if v < 0 {
			return t, fmt.Errorf("bad rule %q: %s is never negative", rule, t.Metric)
		}
	}
	return t, nil
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Check evaluates t against r.
func (t Threshold) Check(r *Report) ThresholdResult {
	v, ok := t.actual(r)
	res := ThresholdResult{Rule: t.Rule}
	if !ok {
		return res
	}
	res.Actual = &v
	switch t.Op {
	case "<=":
		res.Passed = v <= t.Value
	case "<":
		res.Passed = v < t.Value
	case ">=":
		res.Passed = v >= t.Value
	case ">":
		res.Passed = v > t.Value
	case "==":
		res.Passed = v == t.Value
	case "!=":
		res.Passed = v != t.Value
	}
	return res
}

// actual returns the value of t's metric in r; false when undefined.
func (t Threshold) actual(r *Report) (float64, bool) {
	if t.Scope == "run" {
		return runMetric(r, t.Metric)
	}
	c, ok := r.Classes[t.Scope]
	if t.Scope == "all" {
		c, ok = r.All, true
	}
	if !ok {
		return 0, false
	}
	return c.metric(t.Metric, r.DurationS)
}

// runMetric returns a run metric of r.
func runMetric(r *Report, metric string) (float64, bool) {
	switch metric {
	case "achieved_ratio":
		if r.OfferedRPS == 0 {
			return 0, false
		}
		return r.AchievedRPS / r.OfferedRPS, true
	case "achieved_rps":
		return r.AchievedRPS, true
	case "offered_rps":
		return r.OfferedRPS, true
	case "late_sends":
		return float64(r.LateSends), true
	case "dropped":
		return float64(r.Dropped), true
	case "send_lag_p99_ms":
		return r.Generator.SendLagMs.P99, true
	}
	return 0, false
}

// metric returns a class metric of c over a run of durS seconds.
func (c *ClassReport) metric(name string, durS float64) (float64, bool) {
	offered := float64(c.Sent + c.Dropped)
	ratio := func(n int64) (float64, bool) {
		if offered == 0 {
			return 0, false
		}
		return float64(n) / offered, true
	}
	switch name {
	case "success":
		return ratio(c.OK)
	case "shed":
		return ratio(c.Shed)
	case "errors":
		return ratio(c.Errors + c.Timeouts)
	case "timeouts":
		return ratio(c.Timeouts)
	case "failed":
		return ratio(c.Failed)
	case "dropped":
		return ratio(c.Dropped)
	case "goodput_rps":
		return c.GoodputRPS, true
	case "sent":
		return float64(c.Sent), true
	case "ok":
		return float64(c.OK), true
	case "tries_per_request":
		if c.Sent == 0 {
			return 0, false
		}
		return float64(c.Tries) / float64(c.Sent), true
	}
	return c.latencyMetric(name)
}

// latencyMetric returns a latency metric of c; undefined when nothing
// completed.
func (c *ClassReport) latencyMetric(name string) (float64, bool) {
	if c.Sent == 0 {
		return 0, false
	}
	l, tl := c.LatencyMs, c.TryLatencyMs
	v, ok := map[string]float64{"p50_ms": l.P50, "p90_ms": l.P90, "p95_ms": l.P95, "p99_ms": l.P99, "p999_ms": l.P999,
		"max_ms": l.Max, "mean_ms": l.Mean, "try_p50_ms": tl.P50, "try_p95_ms": tl.P95, "try_p99_ms": tl.P99}[name]
	return v, ok
}

// checkAll evaluates rules against r, in order.
func checkAll(rules []Threshold, r *Report) []ThresholdResult {
	out := make([]ThresholdResult, len(rules))
	for i, t := range rules {
		out[i] = t.Check(r)
	}
	return out
}

// sortedKeys returns m's keys sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
