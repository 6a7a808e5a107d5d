// Command issuer-sim runs the simulated code-issuance backend of package
// shedgate/issuer: the main API on -listen, its counters and fault
// controls on -admin.
//
// On start it prints one line to stdout,
//
//	issuer-sim listening on 127.0.0.1:9000 admin 127.0.0.1:9001
//
// with the addresses actually bound (so -listen 127.0.0.1:0 works), and
// nothing per request afterwards. SIGINT or SIGTERM closes the listeners and
// exits 0. A bad flag exits 2 with a message on stderr.
//
// It must stay a thin main: the behaviour lives in the issuer package.
package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"shedgate/issuer"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed flags.
type options struct {
	listen, admin string
	cfg           issuer.Config
}

// parseFlags parses args into options, validated.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("issuer-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9000", "main API `address`")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:9001", "admin API `address` (stats, faults)")
	workers := fs.Int("workers", issuer.DefaultWorkers, "requests served at once (1 to 100000)")
	service := fs.Duration("service-time", issuer.DefaultServiceTime, "base service time of one request; 0 means none")
	growth := fs.Float64("growth", issuer.DefaultGrowth,
		"service time is service-time × (1 + queued/(workers×growth)) + latency; inf keeps it constant")
	errorRate := fs.Float64("error-rate", 0, "fraction (0 to 1) of requests answered 500 after their service")
	latency := fs.Duration("latency", 0, "added to every request's service time")
	hang := fs.Bool("hang", false, "accept requests and never answer them")
	outage := fs.Bool("outage", false, "start with the main listener closed")
	dropRate := fs.Float64("drop-rate", 0, "fraction (0 to 1) of scans, re-issues and check-ins applied and then left unanswered")
	keySeed := fs.String("key-seed", "", "`hex` seed of the Ed25519 signing key, to share one key between processes (default: a random key)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *workers < 1 {
		return o, fmt.Errorf("invalid -workers %d: must be at least 1", *workers)
	}
	if *service < 0 {
		return o, fmt.Errorf("invalid -service-time %v: must not be negative", *service)
	}
	if !(*growth > 0) {
		return o, fmt.Errorf("invalid -growth %v: must be positive", *growth)
	}
	seed, err := hex.DecodeString(*keySeed)
	if err != nil {
		return o, fmt.Errorf("invalid -key-seed: %w", err)
	}
	o.cfg = issuer.Config{
		Workers:     *workers,
		ServiceTime: *service,
		Growth:      *growth,
		Faults: issuer.Faults{ErrorRate: *errorRate, Latency: *latency, Hang: *hang, Outage: *outage,
			DropRate: *dropRate},
		KeySeed: seed,
	}
	if *service == 0 {
		o.cfg.ServiceTime = -1 // the Config's "none"
	}
	if math.IsInf(*growth, 1) {
		o.cfg.Growth = math.Inf(1)
	}
	return o, o.cfg.Validate()
}

// run is main with its exit code returned.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "issuer-sim: %v\n", err)
		return 2
	}
	iss, err := issuer.New(o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "issuer-sim: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		fmt.Fprintf(stderr, "issuer-sim: -listen: %v\n", err)
		return 1
	}
	adminLn, err := net.Listen("tcp", o.admin)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "issuer-sim: -admin: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "issuer-sim listening on %s admin %s\n", ln.Addr(), adminLn.Addr())
	return serveUntilSignal(iss, ln, adminLn, stderr)
}

// serveUntilSignal serves until SIGINT or SIGTERM or a serving error.
func serveUntilSignal(iss *issuer.Issuer, ln, adminLn net.Listener, stderr io.Writer) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	errc := make(chan error, 1)
	go func() { errc <- iss.Serve(ln, adminLn) }()
	var err error
	select {
	case <-sig:
		iss.Close()
		select {
		case err = <-errc:
		case <-time.After(5 * time.Second):
			err = errors.New("listeners did not close within 5s")
		}
	case err = <-errc:
	}
	if err != nil {
		fmt.Fprintf(stderr, "issuer-sim: %v\n", err)
		return 1
	}
	return 0
}
