package loadtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"shedgate/configs"
)

// Scenario is a load-test scenario as read from a YAML file by Load or
// Parse. The file is strict: an unknown key, a value of the wrong type, a
// bad duration or an impossible value is an error naming the file, the line
// and the key ("launch-day.yaml:12: requests[2].weight: must be positive").
// Fields left out take the defaults documented on them.
//
//	name: launch-day
//	target: http://127.0.0.1:9000
//	timeout: 2s
//	phases:
//	  - {kind: constant, rate: 800, duration: 10s}
//	  - {kind: ramp, from: 800, to: 10000, duration: 2s}
//	  - {kind: step, rate: 10000, duration: 15s}
//	clients:
//	  - {kind: patient, weight: 6}
//	  - {kind: impatient, weight: 3, retries: 2}
//	  - {kind: polite, weight: 1, retries: 3, max_retry_after: 5s}
//	setup: {path: "/v1/codes/{key}", pool: 500}
//	requests:
//	  - name: show-code
//	    class: show
//	    weight: 80
//	    path: /v1/codes/{key}
//	    key: {kind: zipf, population: 1000000, s: 1.1, v: 100, format: resident_id}
//	  - name: scan
//	    class: scan
//	    method: POST
//	    path: /v1/scans
//	    body: '{"code":"{code}","sample_id":"{run}-{seq}"}'
//	    key: {kind: uniform, population: 500, format: resident_id, seed: 3}
//	actions:
//	  - {at: 20s, post: "http://{issuer_admin}/faults", body: '{"outage":true}'}
//	thresholds:
//	  - "scan.success >= 0.999"
//	  - "scan.p99_ms <= 100"
//
// A Scenario returned by Load or Parse is validated and compiled; it is
// read-only afterwards and may be run any number of times, concurrently.
type Scenario struct {
	// Name labels the reports. Default: the file name without extension.
	Name string `yaml:"name"`
	// Description is free text shown in the HTML report.
	Description string `yaml:"description"`
	// Target is the base URL requests go to, http://host:port or
	// https://host:port, no path; or several, comma-separated, which the
	// tries go to in turn (a balancer in front of several gateways:
	// spread). Options.Target overrides it; one of the two is required.
	Target string `yaml:"target"`
	// Timeout is the per-try timeout: a try not answered within it counts as
	// a timeout and its connection is closed. Default 2s. A request may
	// override it.
	Timeout time.Duration `yaml:"timeout"`
	// Seed seeds the draws of templates, clients and keys, so that a run is
	// reproducible. Default 1.
	Seed int64 `yaml:"seed"`
	// Phases are the arrival rates, run one after the other. At least one.
	Phases []Phase `yaml:"phases"`
	// Clients is the weighted mix of client behaviours; every logical
	// request draws one. Default: all patient.
	Clients []Client `yaml:"clients"`
	// Setup fetches the codes that templates using {code} need, before the
	// run. Required when a template uses {code}.
	Setup Setup `yaml:"setup"`
	// Requests is the weighted mix of request templates. At least one.
	Requests []Request `yaml:"requests"`
	// Actions are HTTP POSTs made at fixed times into the run, to drive
	// faults (see Action).
	Actions []Action `yaml:"actions"`
	// Thresholds are rules such as "scan.success >= 0.999" that decide
	// the exit code (see Threshold).
	Thresholds []string `yaml:"thresholds"`

	// Path is the file the scenario was read from.
	Path string `yaml:"-"`

	compiled *plan // set by Parse
}

// Phase is one part of the run with its arrival rate, in logical requests
// per second (tries of retries come on top).
//
//   - constant: Rate for Duration.
//   - ramp: from From to To, linearly, over Duration.
//   - step: jumps at once to Rate and holds it for Duration. It is a
//     constant phase under another name: use it for the spike, so the file
//     reads like the event it models.
//
// Arrivals within a phase are evenly spaced by the instantaneous rate.
type Phase struct {
	// Kind is constant, ramp or step. Default constant.
	Kind string `yaml:"kind"`
	// Rate is the rate of constant and step phases, >= 0.
	Rate float64 `yaml:"rate"`
	// From and To are the rates at the start and the end of a ramp, >= 0.
	From float64 `yaml:"from"`
	To   float64 `yaml:"to"`
	// Duration is how long the phase lasts, > 0.
	Duration time.Duration `yaml:"duration"`
}

// Client is a client behaviour and its weight in the mix.
//
//   - patient: one try; its outcome is final.
//   - impatient: retries at once (after RetryDelay) when a try times out,
//     fails or is shed, ignoring Retry-After, up to Retries more tries: a
//     stressed resident tapping again.
//   - polite: when a try is shed (429 or 503) waits what Retry-After says
//     (RetryDelay when absent), capped at MaxRetryAfter, then tries again,
//     up to Retries more tries. It does not retry timeouts or errors unless
//     RetryOn says so.
type Client struct {
	// Kind is patient, impatient or polite. Required.
	Kind string `yaml:"kind"`
	// Weight is the share of logical requests with this behaviour, > 0.
	// Default 1.
	Weight *float64 `yaml:"weight"`
	// Retries is the most tries after the first, 0 to 10. Default 0 for
	// patient, 3 for impatient and polite.
	Retries *int `yaml:"retries"`
	// RetryOn lists the outcomes that lead to a retry: timeout, error,
	// shed. Default: [timeout, error, shed] for impatient, [shed] for
	// polite; patient never retries.
	RetryOn []string `yaml:"retry_on"`
	// RetryDelay is the pause before a retry (for polite: when the answer
	// has no Retry-After). Default 0 for impatient, 1s for polite.
	RetryDelay *time.Duration `yaml:"retry_delay"`
	// MaxRetryAfter caps the wait a polite client accepts from
	// Retry-After. Default 10s.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
}

// Setup says how to fetch codes for templates that use {code}: for each of
// the first Pool keys of such a template's key generator, GET Path (with
// {key}) from the setup target and keep the JSON answer's Field. Setup
// requests are not counted in the results. Keys whose code cannot be
// fetched (after a few tries) are left out of the pool.
type Setup struct {
	// Path is the path template of the code request, with {key}. Required
	// when a template uses {code}.
	Path string `yaml:"path"`
	// Pool is how many keys get a code, per template, 1 to 100000. Default
	// 500. A template using {code} draws its keys among these.
	Pool int `yaml:"pool"`
	// Target is the base URL of the setup requests. Default: the run's
	// target. Options.SetupTarget overrides it.
	Target string `yaml:"target"`
	// Field is the JSON field of the answer that holds the code. Default
	// "code".
	Field string `yaml:"field"`
	// Concurrency is how many setup requests are in flight at once. Default
	// 16.
	Concurrency int `yaml:"concurrency"`
}

// Request is a request template and its share of the mix.
//
// Path, Body and header values may hold placeholders, replaced for every
// logical request (and kept for its retries):
//
//   - {key}: the key drawn from Key;
//   - {NAME}: the key drawn from Params[NAME];
//   - {code}: the code fetched in setup for {key};
//   - {seq}: the logical request's sequence number in the run, from 0;
//   - {run}: a random hex id of the run, so {run}-{seq} is unique across
//     runs against the same server.
//
// A brace not followed by a name and a closing brace is literal, so JSON
// bodies need no escaping; an unknown name is an error. Values are inserted
// as is. Every request also carries X-Request-Id: {run}-{seq}, the same on
// every try.
type Request struct {
	// Name labels the template in errors. Default: its class.
	Name string `yaml:"name"`
	// Class is the label results are reported under ("scan", "show"),
	// lower-case letters, digits, '-' and '_'; "all" and "run" are
	// reserved. Required.
	Class string `yaml:"class"`
	// Weight is the share of logical requests from this template, > 0.
	// Default 1.
	Weight *float64 `yaml:"weight"`
	// Method is the HTTP method. Default GET, or POST when Body is set.
	Method string `yaml:"method"`
	// Path is the path template, starting with '/', query allowed.
	// Required.
	Path string `yaml:"path"`
	// Body is the body template. Default empty.
	Body string `yaml:"body"`
	// Headers are extra request headers (values are templates). A body
	// gets Content-Type: application/json unless set here.
	Headers map[string]string `yaml:"headers"`
	// Key generates {key}. Required when a template uses {key} or {code}.
	Key Key `yaml:"key"`
	// Params generate the other named placeholders.
	Params map[string]Key `yaml:"params"`
	// OKStatus lists statuses besides 2xx that count as ok: domain answers
	// such as 409 "already re-issued today".
	OKStatus []int `yaml:"ok_status"`
	// Timeout overrides the scenario's per-try timeout for this template.
	Timeout time.Duration `yaml:"timeout"`
	// Clients overrides the scenario's client mix for this template.
	Clients []Client `yaml:"clients"`
}

// Key is a key generator: a distribution over the indices 0 to
// Population-1 and a format that turns an index into a key. The same
// (Seed, index) always gives the same key, so two templates with the same
// Seed and Format share people.
type Key struct {
	// Kind is the distribution: zipf (index 0 the most frequent), uniform,
	// sequential (0, 1, 2, ... wrapping at Population), or resident_id
	// (uniform with Format resident_id). Required.
	Kind string `yaml:"kind"`
	// Population is the number of distinct keys, 1 to 10^12. Required.
	Population int64 `yaml:"population"`
	// S and V shape zipf: P(i) is proportional to (V+i)^-S. S > 1, default
	// 1.1; V >= 1, default 1. A larger V flattens the head.
	S float64 `yaml:"s"`
	V float64 `yaml:"v"`
	// Format is number (the index in decimal, after Prefix) or
	// resident_id (a valid 18-character resident ID). Default number,
	// resident_id for Kind resident_id.
	Format string `yaml:"format"`
	// Prefix is put before a number key. Default empty.
	Prefix string `yaml:"prefix"`
	// Seed picks which people a resident_id population holds. Default 0.
	Seed int64 `yaml:"seed"`
	// MinAge and MaxAge bound the age of resident_id people, 0 to 110.
	// Default 0 to 99.
	MinAge *int `yaml:"min_age"`
	MaxAge *int `yaml:"max_age"`
}

// Action is an HTTP POST made At into the run, used to drive faults that
// the harness cannot cause itself, such as the simulated issuer's outage:
//
//	actions:
//	  - {at: 20s, post: "http://{issuer_admin}/faults", body: '{"outage":true}'}
//	  - {at: 40s, post: "http://{issuer_admin}/faults", body: '{"outage":false}'}
//
// {issuer_admin} in Post is replaced by Options.IssuerAdmin (the
// -issuer-admin flag); a run of a scenario using it without one is refused.
// The outcome of every action is in the report and marked on its charts.
type Action struct {
	// At is the time into the run, from 0 to the end of the last phase.
	At time.Duration `yaml:"at"`
	// Post is the URL to POST to. Required.
	Post string `yaml:"post"`
	// Body is the request body, sent as application/json.
	Body string `yaml:"body"`
}

// Defaults of Scenario fields.
const (
	DefaultTimeout       = 2 * time.Second
	DefaultPool          = 500
	DefaultMaxRetryAfter = 10 * time.Second
)

// Load reads and parses the scenario file at path.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a scenario strictly, applies the defaults, validates it and
// compiles its templates, key generators and thresholds. Every problem is
// reported as "<file>:<line>: <key path>: <what>", all of them, one per
// line.
func Parse(path string, data []byte) (*Scenario, error) {
	s := &Scenario{Path: path, Timeout: DefaultTimeout, Seed: 1}
	s.Setup = Setup{Pool: DefaultPool, Field: "code", Concurrency: 16}
	var p *plan
	err := configs.Decode(path, data, s, func(report func(key, format string, args ...any)) {
		p = compile(s, report)
	})
	if err != nil {
		return nil, err
	}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	s.compiled = p
	return s, nil
}

// Duration returns the scheduled length of the run: the sum of the
// phases' durations.
func (s *Scenario) Duration() time.Duration {
	var d time.Duration
	for _, p := range s.Phases {
		d += p.Duration
	}
	return d
}
