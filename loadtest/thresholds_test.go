package loadtest

import (
	"strings"
	"testing"
)

func TestThresholds(t *testing.T) {
	r := &Report{DurationS: 10, OfferedRPS: 100, AchievedRPS: 99, Classes: map[string]*ClassReport{
		"scan": {Sent: 990, Dropped: 10, OK: 999 - 9, Shed: 5, Errors: 3, Timeouts: 2, Tries: 1980,
			LatencyMs: Latency{P50: 10, P99: 80}, GoodputRPS: 99},
		"none": {},
	}}
	r.All = r.Classes["scan"]
	f := func(rule string, passed bool, actual float64) {
		t.Helper()
		th, err := ParseThreshold(rule, []string{"scan", "none"})
		if err != nil {
			t.Fatalf("%q: %v", rule, err)
		}
		got := th.Check(r)
		if got.Passed != passed || got.Actual == nil || *got.Actual != actual {
			t.Errorf("%q = %+v (actual %v); want passed %v, actual %v", rule, got, deref(got.Actual), passed, actual)
		}
	}
	f("scan.success >= 0.99", true, 0.99)
	f("scan.success >= 0.999", false, 0.99)
	f("scan.p99_ms <= 100", true, 80)
	f("scan.p99_ms < 80", false, 80)
	f("all.errors <= 0.01", true, 0.005)
	f("scan.shed == 0.005", true, 0.005)
	f("scan.dropped != 0", true, 0.01)
	f("scan.goodput_rps >= 100", false, 99)
	f("scan.tries_per_request <= 2", true, 2)
	f("  run.achieved_ratio >= 0.99 ", true, 0.99)
	if got := mustThreshold(t, "none.success >= 0").Check(r); got.Passed || got.Actual != nil {
		t.Errorf("a ratio of a class that offered nothing = %+v; want failed and undefined", got)
	}
	for rule, want := range map[string]string{
		"scan.success":          "want <class>.<metric> <op> <number>",
		"scan.success => 1":     "want <class>.<metric>",
		"scan.success >= x":     `"x" is not a number`,
		"show.success >= 1":     `no class "show" (have scan, none, all, run)`,
		"run.p99_ms <= 1":       `unknown metric "p99_ms" for run`,
		"scan.p99_ms <= -1":     "never negative",
		"scan.success >= 1e999": "not a number",
	} {
		if _, err := ParseThreshold(rule, []string{"scan", "none"}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v; want %q", rule, err, want)
		}
	}
}

func mustThreshold(t *testing.T, rule string) Threshold {
	t.Helper()
	th, err := ParseThreshold(rule, []string{"scan", "none"})
	if err != nil {
		t.Fatal(err)
	}
	return th
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
