package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shedgate/internal/proctest"
)

// scenario writes a scenario against target with the given thresholds.
func scenario(t *testing.T, target string, thresholds ...string) string {
	t.Helper()
	rules, _ := json.Marshal(thresholds)
	return proctest.WriteFile(t, "s.yaml", `name: cli-test
target: `+target+`
phases: [{rate: 100, duration: 1s}]
requests:
  - {class: show, path: "/v1/codes/{key}", key: {kind: resident_id, population: 50}}
thresholds: `+string(rules)+"\n")
}

// The real binary's exit code follows the thresholds: 0 when they pass, 99
// when one fails (as k6); its reports are written either way. A run that
// cannot run exits 1.
func TestExitCodes(t *testing.T) {
	bin := proctest.Build(t, "shedgate/cmd/loadtest")
	bare := proctest.Start(t, bin, "-serve-bare", "127.0.0.1:0")
	target := "http://" + bare.Addrs[0]
	dir := t.TempDir()
	report := filepath.Join(dir, "r.json")
	code, out := proctest.Run(t, 20*time.Second, bin, "-report", report, "-html", filepath.Join(dir, "r.html"),
		scenario(t, target, "show.success >= 0.999", "show.p99_ms <= 1000"))
	if code != 0 || !strings.Contains(out, "pass  show.success >= 0.999") {
		t.Errorf("passing thresholds: exit %d; want 0; output:\n%s", code, out)
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), `"sent": 100`) {
		t.Errorf("report %s: %v; want it written with 100 sent", report, err)
	}
	code, out = proctest.Run(t, 20*time.Second, bin, "-quiet", scenario(t, target, "show.p50_ms <= 0"))
	if code != 99 {
		t.Errorf("failing threshold: exit %d; want 99; output:\n%s", code, out)
	}
	code, out = proctest.Run(t, 20*time.Second, bin, "-quiet", "-requests", "/proc/no/such/dir/r.jsonl",
		scenario(t, target, "show.p50_ms <= 0"))
	if code != 1 {
		t.Errorf("unwritable -requests: exit %d; want 1; output:\n%s", code, out)
	}
	code, out = proctest.Run(t, 20*time.Second, bin, "-compare", report+","+report, "-labels", "one,two")
	if code != 0 || !strings.Contains(out, "one") || !strings.Contains(out, "show success") {
		t.Errorf("-compare: exit %d; want 0 and a table; output:\n%s", code, out)
	}
}

// Bad usage and bad scenarios exit 2 with the file, line and key.
func TestUsageErrors(t *testing.T) {
	bin := proctest.Build(t, "shedgate/cmd/loadtest")
	bad := proctest.WriteFile(t, "bad.yaml", `phases: [{rate: 10, duration: 1s}]
requests:
  - {class: show, path: /, weight: -1}
thresholds: ["show.success >= 0.9"]
`)
	actions := proctest.WriteFile(t, "actions.yaml", `target: http://127.0.0.1:1
phases: [{rate: 10, duration: 1s}]
requests: [{class: show, path: /}]
actions: [{at: 0s, post: "http://{issuer_admin}/faults"}]
`)
	f := func(want string, args ...string) {
		t.Helper()
		code, out := proctest.Run(t, 10*time.Second, bin, args...)
		if code != 2 || !strings.Contains(out, want) {
			t.Errorf("loadtest %v: exit %d; want 2 and %q; output:\n%s", args, code, want, out)
		}
	}
	f(bad+":3: requests[0].weight: must be positive, got -1", bad)
	f("no target", proctest.WriteFile(t, "nt.yaml", "phases: [{rate: 1, duration: 1s}]\nrequests: [{class: a, path: /}]\n"))
	f("give -issuer-admin", actions)
	f("no scenario file")
	f("want one scenario file", bad, bad)
	f("flag provided but not defined", "-bogus", bad)
	f("read report", "-compare", filepath.Join(t.TempDir(), "missing.json"))
}
