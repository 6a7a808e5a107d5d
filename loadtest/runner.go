package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Defaults of Options.
const (
	DefaultMaxInFlight = 10000
)

// ErrUsage is wrapped by Run's errors that come from its arguments (no
// target, a bad URL, a missing -issuer-admin) rather than from the run.
var ErrUsage = errors.New("loadtest: bad usage")

// Options are a run's settings besides the scenario. The zero value runs
// the scenario as written.
type Options struct {
	// Target overrides Scenario.Target (one base URL, or several
	// comma-separated).
	Target string
	// SetupTarget overrides Scenario.Setup.Target.
	SetupTarget string
	// IssuerAdmin is the host:port that replaces {issuer_admin} in the
	// actions' URLs. Required when an action uses it.
	IssuerAdmin string
	// MaxInFlight caps the tries in flight (each holds a goroutine and,
	// without Pipeline, a connection); a retry waiting out its pause holds
	// none. A first try that finds the cap reached is dropped and counted
	// (Report.Dropped), a retry too (Generator.DroppedRetries: its logical
	// request ends with the outcome of its last try). Default 10000.
	MaxInFlight int
	// Connections caps the connections to the target. Default
	// MaxInFlight, or 4 with Pipeline.
	Connections int
	// Pipeline, when positive, pipelines up to Pipeline requests on each
	// connection (HTTP/1.1 pipelining) instead of one at a time as phones
	// and browsers do. It sends far more per CPU second, for throughput
	// tests of targets that support it (scripts/bench-harness.sh); a
	// request behind a slow one waits for it. Default 0: off.
	Pipeline int
	// Log receives the harness's notes, warnings and action outcomes, one
	// per line. Default: discarded.
	Log io.Writer
	// Progress shows a live status line on Log, rewritten every second.
	// Set it only when Log is a terminal (see IsTerminal).
	Progress bool
	// Requests, when set, receives one JSON line per logical request as
	// it ends (see RequestLine). Default: none.
	Requests io.Writer
}

// live are the counters that the progress line and the self-check read
// while the run goes on.
type live struct {
	sent, dropped, late atomic.Int64
	droppedRetries      atomic.Int64 // retries not sent: the in-flight cap
	maxLag              atomic.Int64 // worst send lag since the self-check last looked, ns
	done                [numOutcomes]atomic.Int64
}

// runner is one run of a scenario.
type runner struct {
	scen   *Scenario
	plan   *plan
	opts   Options
	tgt    target   // the first of tgts: the Host header, and setup's default
	tgts   []target // tries go to each in turn
	hc     doer
	pools  []*codePool // by template, for {code}
	runID  string
	today  time.Time
	start  time.Time
	rec    *recorder
	pool   *workerPool
	con    *console
	ctx    context.Context
	live   live
	reqLog *requestLog // nil without Options.Requests

	// Owned by the dispatcher while it runs, read after.
	disp dispatchStats
}

// dispatchStats are the dispatcher's counts.
type dispatchStats struct {
	offered, sent, dropped [][]int64 // [second][class]
	lag                    *hdrhistogram.Histogram
	lastSend               time.Duration
}

// Run runs scenario s (from Load or Parse) and returns its report. Its
// thresholds are checked in the report (Report.Passed). An error means
// the run could not be made: errors wrapping ErrUsage come from the
// arguments, others from the setup step (no code could be fetched).
// Cancelling ctx stops sending; the requests in flight finish and the
// report covers what was sent.
func Run(ctx context.Context, s *Scenario, opts Options) (*Report, error) {
	r, err := newRunner(ctx, s, opts)
	if err != nil {
		return nil, err
	}
	setup, err := r.setup()
	if err != nil {
		return nil, err
	}
	return r.run(setup), nil
}

// newRunner checks the options and prepares a run.
func newRunner(ctx context.Context, s *Scenario, opts Options) (*runner, error) {
	if s == nil || s.compiled == nil {
		return nil, fmt.Errorf("%w: the scenario was not made by Load or Parse", ErrUsage)
	}
	p := s.compiled
	if opts.Target == "" {
		opts.Target = s.Target
	}
	if opts.Target == "" {
		return nil, fmt.Errorf("%w: no target: set target in %s or give -target", ErrUsage, s.Path)
	}
	tgts, err := parseTargets(opts.Target)
	if err != nil {
		return nil, fmt.Errorf("%w: target: %v", ErrUsage, err)
	}
	if p.adminInURL && opts.IssuerAdmin == "" {
		return nil, fmt.Errorf("%w: the actions of %s use {issuer_admin}: give -issuer-admin HOST:PORT", ErrUsage, s.Path)
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.Connections <= 0 {
		opts.Connections = opts.MaxInFlight
		if opts.Pipeline > 0 {
			opts.Connections = min(opts.MaxInFlight, 4)
		}
	}
	id := make([]byte, 4)
	rand.Read(id) //nolint:errcheck // never fails
	r := &runner{scen: s, plan: p, opts: opts, tgt: tgts[0], tgts: tgts, ctx: ctx, runID: hex.EncodeToString(id),
		today: utcDate(time.Now()), con: newConsole(opts.Log, opts.Progress)}
	r.hc = newDoer(tgts, opts, p.maxTimeout)
	if opts.Requests != nil {
		r.reqLog = newRequestLog(opts.Requests)
	}
	return r, nil
}

// setup fetches the code pools the templates need.
func (r *runner) setup() (SetupReport, error) {
	var rep SetupReport
	needed := false
	for _, t := range r.plan.tmplList {
		needed = needed || t.needsCode
	}
	if !needed {
		r.pools = make([]*codePool, len(r.plan.tmplList))
		return rep, nil
	}
	st := r.scen.Setup
	if r.opts.SetupTarget != "" {
		st.Target = r.opts.SetupTarget
	}
	tgt := r.tgt
	if st.Target != "" {
		var err error
		if tgt, err = parseTarget(st.Target); err != nil {
			return rep, fmt.Errorf("%w: setup target: %v", ErrUsage, err)
		}
	}
	hc := newHostClient(tgt, st.Concurrency, r.scen.Timeout)
	f := &fetcher{hc: hc, tgt: tgt, st: st, path: r.plan.setupPath, timeout: r.scen.Timeout, today: r.today}
	pools, err := fetchPools(r.ctx, f, r.plan, &rep)
	if err != nil {
		return rep, err
	}
	r.pools = pools
	r.con.printf("setup: %d codes from %s in %.1fs (%d keys without one)", rep.Codes, tgt.url, rep.Seconds, rep.Failed)
	return rep, nil
}

// run sends the scenario, waits for the last answers and reports.
func (r *runner) run(setup SetupReport) *Report {
	nclass := len(r.plan.classes)
	r.rec = newRecorder(nclass, max(2, runtime.GOMAXPROCS(0)))
	r.pool = newWorkerPool(r.opts.MaxInFlight, r.newWorker)
	warm := warmConns(r.plan.sched.rateAt(0), r.opts.Connections)
	for _, hc := range hostClients(r.hc) {
		warmUp(hc, max(1, warm/len(r.tgts)), min(r.plan.maxTimeout, time.Second))
	}
	r.pool.prestart(warm)
	r.disp.lag = newHist(histDigits)
	stop := make(chan struct{})
	actCtx, cancelActions := context.WithCancel(r.ctx)
	defer cancelActions()
	gen := Generator{LateThresholdMs: ms(LateThreshold), InFlightCap: r.opts.MaxInFlight, Connections: r.opts.Connections,
		Pipeline: r.opts.Pipeline}
	var actions []ActionResult
	var wg sync.WaitGroup
	r.start = time.Now()
	wg.Add(3)
	go func() { defer wg.Done(); r.progress(stop) }()
	go func() { defer wg.Done(); r.selfCheck(stop, &gen) }()
	go func() {
		defer wg.Done()
		actions = runActions(actCtx, r.plan.actions, r.opts.IssuerAdmin, r.start, r.con)
	}()
	r.dispatch()
	r.pool.close()
	wall := time.Since(r.start)
	if r.reqLog != nil {
		r.reqLog.flush()
	}
	cancelActions()
	close(stop)
	wg.Wait()
	gen.MaxInFlight = r.pool.maxInFlight.Load()
	gen.DroppedRetries = r.live.droppedRetries.Load()
	return r.report(gen, setup, actions, wall)
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
