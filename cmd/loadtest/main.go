// Command loadtest runs a load-test scenario (configs/scenarios/*.yaml)
// against an HTTP target, open loop, and reports what happened.
//
//	loadtest [flags] SCENARIO.yaml
//	loadtest -target http://127.0.0.1:8080 -report out/run.json -html out/run.html configs/scenarios/launch-day.yaml
//	loadtest -compare out/direct.json,out/gateway.json -labels direct,gateway
//
// The scenario format (phases, request templates with key generators,
// client behaviours, setup, actions, thresholds) is documented on
// loadtest.Scenario; the shipped scenarios in configs/scenarios/ are
// commented examples. -target overrides the scenario's target;
// -issuer-admin fills {issuer_admin} in its actions.
//
// It prints a summary table on stdout at the end and, on a terminal, a
// live progress line on stderr (rate, ok, shed, errors, p99 so far);
// warnings (the generator falling behind its schedule or out of CPU,
// dropped sends) and timed actions go to stderr.
//
// Each request in flight holds its own connection, as phones do (at most
// -max-inflight, default 10,000; -connections caps them lower). -pipeline
// N sends up to N requests per connection instead (HTTP/1.1 pipelining),
// which costs the harness and the target far less per request: for
// throughput tests such as scripts/bench-harness.sh. -cpuprofile profiles
// the harness itself.
//
// Exit codes, as k6's: 0 every threshold of the scenario passed (or it has
// none); 99 a threshold failed (the reports are written); 1 the run was
// interrupted (SIGINT, SIGTERM), could not be made (no code could be
// fetched in setup) or its reports could not be written; 2 bad usage or a
// bad scenario file, with the file, line and key of each problem.
//
// -requests FILE writes one JSON line per logical request as it ends
// (loadtest.RequestLine: its class, scheduled time, latency, outcome and
// each try's status and latency), for tools that want every sample.
//
// -serve-bare ADDR runs a bare fasthttp server answering 200 "ok" to every
// request instead, printing "loadtest-bare listening on ADDR" first: the
// target of scripts/bench-harness.sh, which measures the harness itself.
//
// It must stay a thin main: the behaviour lives in package
// shedgate/loadtest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"

	"shedgate/loadtest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed flags.
type options struct {
	scenario        string
	report, html    string
	requests        string
	compare, labels string
	serveBare       string
	cpuProfile      string
	quiet           bool
	run             loadtest.Options
}

// parseFlags parses args into options.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: loadtest [flags] SCENARIO.yaml\n       loadtest -compare A.json,B.json [-labels a,b]\nflags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.scenario, "scenario", "", "scenario `file` (or give it as the argument)")
	fs.StringVar(&o.run.Target, "target", "", "base `URL` of the target, overriding the scenario's target; several, comma-separated, get the tries in turn")
	fs.StringVar(&o.run.SetupTarget, "setup-target", "", "base `URL` the setup step fetches codes from (default: the scenario's setup.target, else the target)")
	fs.StringVar(&o.run.IssuerAdmin, "issuer-admin", "", "`host:port` replacing {issuer_admin} in the scenario's actions")
	fs.StringVar(&o.report, "report", "", "write the JSON report to `file`")
	fs.StringVar(&o.html, "html", "", "write the self-contained HTML report to `file`")
	fs.StringVar(&o.requests, "requests", "", "write one JSON line per request to `file`")
	fs.IntVar(&o.run.Connections, "connections", 0, "most connections to each target (default: -max-inflight, or 4 with -pipeline)")
	fs.IntVar(&o.run.Pipeline, "pipeline", 0, "pipeline up to `n` requests per connection (HTTP/1.1 pipelining, for throughput tests; default 0: one at a time, as phones do)")
	fs.IntVar(&o.run.MaxInFlight, "max-inflight", loadtest.DefaultMaxInFlight, "most tries in flight (a retry waiting its pause holds none); a send beyond it is dropped and counted")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line and no summary table")
	fs.StringVar(&o.compare, "compare", "", "print the reports `a.json,b.json,...` side by side and exit")
	fs.StringVar(&o.labels, "labels", "", "column `labels` for -compare, comma-separated (default: the file names)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the harness's own CPU profile to `file` (to measure the harness)")
	fs.StringVar(&o.serveBare, "serve-bare", "", "serve 200 ok on `addr` (a bare fasthttp target for scripts/bench-harness.sh)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 1:
		return o, fmt.Errorf("want one scenario file, got %d arguments", fs.NArg())
	case fs.NArg() == 1 && o.scenario != "":
		return o, errors.New("give the scenario as -scenario or as the argument, not both")
	case fs.NArg() == 1:
		o.scenario = fs.Arg(0)
	}
	if o.scenario == "" && o.compare == "" && o.serveBare == "" {
		fs.Usage()
		return o, errors.New("no scenario file")
	}
	if o.run.MaxInFlight < 1 || o.run.Connections < 0 || o.run.Pipeline < 0 {
		return o, errors.New("-max-inflight must be at least 1, -connections and -pipeline not negative")
	}
	return o, nil
}

// run is main with its exit code returned.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 2
	}
	switch {
	case o.serveBare != "":
		return serveBare(o.serveBare, stdout, stderr)
	case o.compare != "":
		return compare(o.compare, o.labels, stdout, stderr)
	}
	s, err := loadtest.Load(o.scenario)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 2
	}
	if o.cpuProfile != "" {
		stop, err := startProfile(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "loadtest: %v\n", err)
			return 2
		}
		defer stop()
	}
	return runScenario(s, o, stdout, stderr)
}

// runScenario runs s, writes the reports and returns the exit code.
func runScenario(s *loadtest.Scenario, o options, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o.run.Log = stderr
	if f, ok := stderr.(*os.File); ok && !o.quiet {
		o.run.Progress = loadtest.IsTerminal(f)
	}
	if o.requests != "" {
		f, err := createFile(o.requests)
		if err != nil {
			fmt.Fprintf(stderr, "loadtest: %v\n", err)
			return 1
		}
		defer f.Close()
		o.run.Requests = f
	}
	rep, err := loadtest.Run(ctx, s, o.run)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		if errors.Is(err, loadtest.ErrUsage) {
			return 2
		}
		return 1
	}
	code := 0
	if !rep.Passed() {
		code = exitThresholds
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "loadtest: interrupted: the report covers what was sent")
		code = 1
	}
	if err := writeReports(rep, o); err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		code = 1
	}
	if !o.quiet {
		rep.WriteText(stdout) //nolint:errcheck
	}
	return code
}

// writeReports writes the JSON and HTML reports that o asks for.
func writeReports(rep *loadtest.Report, o options) error {
	if o.report != "" {
		if err := writeFile(o.report, rep.WriteJSON); err != nil {
			return err
		}
	}
	if o.html != "" {
		return writeFile(o.html, rep.WriteHTML)
	}
	return nil
}

// exitThresholds is the exit code of a run whose thresholds failed (k6's).
const exitThresholds = 99

// createFile creates path and its directory.
func createFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return f, nil
}

// writeFile creates path (and its directory) and fills it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := createFile(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// compare prints the reports in the comma-separated list side by side.
func compare(list, labelList string, stdout, stderr io.Writer) int {
	paths := strings.Split(list, ",")
	labels := make([]string, len(paths))
	if labelList != "" {
		labels = strings.Split(labelList, ",")
		if len(labels) != len(paths) {
			fmt.Fprintf(stderr, "loadtest: -labels has %d labels for %d reports\n", len(labels), len(paths))
			return 2
		}
	}
	reports := make([]*loadtest.Report, len(paths))
	for i, p := range paths {
		r, err := loadtest.ReadReport(p)
		if err != nil {
			fmt.Fprintf(stderr, "loadtest: %v\n", err)
			return 2
		}
		reports[i] = r
		if labels[i] == "" {
			labels[i] = strings.TrimSuffix(filepath.Base(p), ".json")
		}
	}
	if err := loadtest.WriteComparison(stdout, labels, reports); err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	return 0
}

// startProfile starts a CPU profile into path and returns its stop.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
