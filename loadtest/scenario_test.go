package loadtest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The shipped scenarios load, and launch-day fits make rehearsal's budget.
func TestShippedScenarios(t *testing.T) {
	paths, err := filepath.Glob("../configs/scenarios/*.yaml")
	if err != nil || len(paths) < 3 {
		t.Fatalf("scenarios: %v %v; want at least 3", paths, err)
	}
	for _, p := range paths {
		s, err := Load(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		base := strings.TrimSuffix(filepath.Base(p), ".yaml")
		if s.Name != base {
			t.Errorf("%s: name %q; want the file's name", p, s.Name)
		}
		if rehearsed := base == "launch-day" || base == "exam-morning" || base == "outage"; rehearsed && len(s.Thresholds) == 0 {
			t.Errorf("%s: no thresholds", p)
		}
	}
	s, err := Load("../configs/scenarios/launch-day.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Duration(); d > 60*time.Second {
		t.Errorf("launch-day lasts %v; want at most 60s", d)
	}
	peak := 0.0
	for _, p := range s.Phases {
		peak = max(peak, p.Rate, p.To)
	}
	if peak != 10000 {
		t.Errorf("launch-day peaks at %v/s; want 10x the issuer's 1,000/s", peak)
	}
}

// Bad scenarios are refused with the file, the line and the key.
func TestScenarioErrors(t *testing.T) {
	const ok = `
phases: [{rate: 10, duration: 1s}]
requests: [{class: a, path: /}]
`
	f := func(yaml, want string) {
		t.Helper()
		_, err := Parse("bad.yaml", []byte(strings.TrimLeft(yaml, "\n")))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v; want it to contain %q", err, want)
		}
	}
	f(ok+"timeot: 2s\n", "bad.yaml:3: timeot: unknown key (did you mean timeout?)")
	f(ok+"timeout: 2 seconds\n", `bad.yaml:3: timeout: bad duration "2 seconds"`)
	f(ok+"seed: many\n", "bad.yaml:3: seed: want an integer")
	f(ok+"thresholds: [\"a.success >= lots\"]\n", `bad.yaml:3: thresholds[0]: bad rule "a.success >= lots"`)
	f(ok+"thresholds: [\"b.success >= 0.9\"]\n", `bad.yaml:3: thresholds[0]: bad rule "b.success >= 0.9": no class "b"`)
	f(ok+"thresholds: [\"a.speed >= 1\"]\n", `unknown metric "speed"`)
	f(ok+"target: localhost:80\n", "bad.yaml:3: target: bad URL")
	f(ok+"target: http://127.0.0.1:1,localhost:80\n", `bad.yaml:3: target: target 2 of 2: bad URL "localhost:80"`)
	f(ok+"setup: {target: \"http://127.0.0.1:1,http://127.0.0.1:2\", path: /c}\n", "bad.yaml:3: setup.target: bad URL")
	f(ok+"actions: [{at: 5s, post: \"http://x/faults\"}]\n", "bad.yaml:3: actions[0].at: must be 0 to the end of the phases (1s)")
	f(`
phases:
  - {rate: 10, duration: 1s}
  - {kind: ramp, rate: 5, duration: 1s}
  - {kind: spike, rate: 5, duration: 0s}
requests: [{class: a, path: /}]
`, "bad.yaml:3: phases[1].rate: a ramp has from and to, not rate\nbad.yaml:4: phases[2].kind: unknown kind \"spike\"")
	f(`
phases: [{rate: 10, duration: 1s}]
requests:
  - {class: a, path: /}
  - {class: b, weight: 0, path: "/x/{key}"}
`, "bad.yaml:4: requests[1].weight: must be positive, got 0\nbad.yaml:4: requests[1].key: required: the template uses {key} or {code}")
	f(`
phases: [{rate: 10, duration: 1s}]
requests:
  - class: a
    method: POST
    path: /scans
    body: '{"code":"{code}","x":"{nope}"}'
    key: {kind: zipf, population: 10, s: 0.9}
`, "bad.yaml:6: requests[0].body: unknown placeholder {nope}")
	f(`
phases: [{rate: 10, duration: 1s}]
requests:
  - class: a
    path: "/{key}"
    key: {kind: zipf, population: 10, s: 0.9}
`, "bad.yaml:5: requests[0].key.s: must be more than 1")
	f(`
phases: [{rate: 10, duration: 1s}]
requests:
  - class: a
    path: /scans
    body: '{"code":"{code}"}'
    key: {kind: resident_id, population: 10}
`, "requests[0]: uses {code}: the scenario needs setup.path")
	f(`
phases: [{rate: 10, duration: 1s}]
clients: [{kind: patient, retries: 2}, {kind: hasty}, {kind: polite, retry_on: [tiemout]}]
requests: [{class: a, path: /}]
`, "bad.yaml:2: clients[0]: a patient client never retries")
	f(`
phases: [{rate: 10, duration: 1s}]
requests: [{class: All, path: /}]
`, `bad.yaml:2: requests[0].class: "All": want lower-case letters`)
	f("phases: []\nrequests: []\n", "bad.yaml:1: phases: at least one phase is required")
}

// A scenario's defaults fill what the file leaves out.
func TestScenarioDefaults(t *testing.T) {
	s := parse(t, `
phases: [{rate: 10, duration: 1s}]
requests:
  - {class: a, path: /x, body: "{}"}
`)
	if s.Name != "test" || s.Timeout != DefaultTimeout || s.Setup.Pool != DefaultPool {
		t.Errorf("scenario %+v; want name test, timeout 2s, pool 500", s)
	}
	tp := s.compiled.tmplList[0]
	if tp.method != "POST" || tp.timeout != DefaultTimeout || tp.name != "a" {
		t.Errorf("template %+v; want POST, 2s, named after its class", tp)
	}
	if b := s.compiled.clients.items[0]; b.kind != kindPatient || b.retries != 0 {
		t.Errorf("client %+v; want patient", b)
	}
}
