// Command gateway runs the load-shedding gateway from a config file.
//
//	gateway -config configs/gateway.yaml
//	gateway -check -config configs/gateway.yaml   # validate, print the summary
//	gateway -version
//
// -check validates a config as a start or a reload would, without
// listening, and exits 0 with a summary of what it sets up, or 1 with each
// error as FILE:LINE: KEY: MESSAGE (test a config before a reload, as with
// nginx -t or haproxy -c).
//
// An invalid config is reported with its file, line and key, and the
// process exits 2 before listening. SIGHUP, a change in the config file's
// directory, or POST /reload on the admin listener reloads the config
// without dropping a request; an invalid one is refused and the running
// one stays. SIGTERM drains: /readyz turns 503 at once and every answer
// closes its connection while the gateway keeps serving for
// server.drain_delay (SIGINT, or a second signal, skips the delay); then
// the listeners close and in-flight requests finish within
// server.drain_timeout, exit 0.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"shedgate/configs"
	"shedgate/gateway"
	"shedgate/internal/listener"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "validate the config, print what it sets up, exit 0 (valid) or 1")
	version := fs.Bool("version", false, "print the version and exit")
	configPath := fs.String("config", "/etc/shedgate/gateway.yaml", "config `file` (make run gives configs/gateway.yaml)")
	listen := fs.String("listen", "", "override server.listen")
	adminListen := fs.String("admin-listen", "", "override server.admin_listen")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	watch := fs.Bool("watch", true, "reload when the config file's directory changes")
	logKeyHex := fs.String("log-key", os.Getenv("GATEWAY_LOG_KEY"),
		"hex key for the keyed hash of identity keys in logs (default $GATEWAY_LOG_KEY, else random per run)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway: unexpected argument %q (flags only; see -h)\n", fs.Arg(0))
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	// load reads the config with the command line's overrides; reloads
	// use it too, so an override survives them.
	load := func() (*configs.Config, error) {
		cfg, err := configs.Load(*configPath)
		if err != nil {
			return nil, err
		}
		if *listen != "" {
			cfg.Server.Listen = *listen
		}
		if *adminListen != "" {
			if !configs.IsLoopback(*adminListen) && cfg.Server.AdminToken == "" {
				return nil, fmt.Errorf("-admin-listen %q is not a loopback address: set server.admin_token in %s first",
					*adminListen, cfg.Path)
			}
			cfg.Server.AdminListen = *adminListen
		}
		return cfg, nil
	}
	cfg, err := load()
	if *check {
		return checkConfig(cfg, err, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "gateway: config:", err)
		return 2
	}
	logKey, err := hex.DecodeString(*logKeyHex)
	if err != nil {
		fmt.Fprintln(stderr, "gateway: -log-key: not hex:", err)
		return 2
	}
	log, access, err := newLoggers(*logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "gateway:", err)
		return 2
	}
	defer log.Sync() //nolint:errcheck
	return serve(cfg, gateway.Options{Logger: log, AccessLog: access, LogKey: logKey, Load: load}, log, *watch)
}

func serve(cfg *configs.Config, opts gateway.Options, log *zap.Logger, watch bool) int {
	g, err := gateway.New(cfg, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 2
	}
	ln, err := listener.Listen(cfg.Server.Listen, cfg.Server.ReusePort)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway: listen:", err)
		return 1
	}
	adminLn, err := net.Listen("tcp", cfg.Server.AdminListen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway: admin listen:", err)
		return 1
	}
	// Signals and the watcher are in place before anyone can learn the
	// ports: a SIGHUP sent on seeing the line below reloads rather than
	// kills, and a file written after it is seen.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	var probeLn net.Listener
	if addr := cfg.Server.ProbeListen; addr != "" {
		if probeLn, err = net.Listen("tcp", addr); err != nil {
			fmt.Fprintln(os.Stderr, "gateway: probe listen:", err)
			return 1
		}
		g.ServeProbes(probeLn)
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ln, adminLn) }()
	if watch {
		if err := g.WatchConfig(); err != nil {
			log.Warn("config changes will need SIGHUP or POST /reload", zap.Error(err))
		}
	}
	// Tests and scripts read this line to learn the chosen ports.
	if probeLn != nil {
		fmt.Printf("gateway listening on %s admin %s probes %s\n", ln.Addr(), adminLn.Addr(), probeLn.Addr())
	} else {
		fmt.Printf("gateway listening on %s admin %s\n", ln.Addr(), adminLn.Addr())
	}
	if cfg.Server.ReusePort {
		warnMigrate(log)
	}
	log.Info("serving", zap.String("listen", ln.Addr().String()), zap.String("admin", adminLn.Addr().String()),
		zap.String("config", cfg.Path), zap.String("config_hash", cfg.Hash))
	var sig os.Signal
	for sig == nil {
		select {
		case err := <-errc:
			log.Error("serve", zap.Error(err))
			return 1
		case s := <-sigs:
			if s == syscall.SIGHUP {
				g.Reload("SIGHUP") //nolint:errcheck // logged and shown in /status
				continue
			}
			sig = s
		}
	}
	delay := g.DrainDelay()
	if sig == syscall.SIGINT {
		delay = 0 // a person at a terminal; an orchestrator sends SIGTERM
	}
	log.Info("draining", zap.String("signal", sig.String()), zap.Duration("delay", delay),
		zap.Duration("timeout", cfg.Server.DrainTimeout))
	g.StartDrain()
	if !drainDelay(delay, sigs, errc, log) {
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.DrainTimeout)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		log.Error("drain incomplete", zap.Error(err))
		if errors.Is(err, context.DeadlineExceeded) {
			return 1
		}
	}
	<-errc
	log.Info("drained")
	return 0
}

// warnMigrate warns when the kernel resets, rather than hands to the
// other gateways on the port, the connections still in a closing
// listener's accept queue (see docs/operating.md, "Drain").
func warnMigrate(log *zap.Logger) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_migrate_req")
	if err == nil && strings.TrimSpace(string(b)) == "0" {
		log.Warn("reuse_port with net.ipv4.tcp_migrate_req=0: a draining gateway's accept queue is reset, not moved; " +
			"set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1)")
	}
}

// drainDelay keeps serving for delay with /readyz at 503, or until a
// second SIGTERM or SIGINT (a SIGHUP is ignored then). It reports false if
// serving failed meanwhile.
func drainDelay(delay time.Duration, sigs <-chan os.Signal, errc <-chan error, log *zap.Logger) bool {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return true
		case err := <-errc:
			log.Error("serve", zap.Error(err))
			return false
		case s := <-sigs:
			if s != syscall.SIGHUP {
				log.Info("drain delay cut short", zap.String("signal", s.String()))
				return true
			}
		}
	}
}

// checkConfig is -check: loadErr is the config's load error; else cfg
// goes through what New would build.
func checkConfig(cfg *configs.Config, loadErr error, stdout, stderr io.Writer) int {
	if loadErr == nil {
		loadErr = gateway.Check(cfg)
	}
	if loadErr != nil {
		for _, line := range strings.Split(loadErr.Error(), "\n") {
			fmt.Fprintln(stderr, line)
		}
		fmt.Fprintln(stderr, "gateway: config check failed")
		return 1
	}
	gateway.WriteSummary(stdout, cfg)
	fmt.Fprintf(stdout, "gateway: config %s is valid\n", cfg.Path)
	return 0
}

// versionString names the build: the module's version, the commit it was
// built from and its time ("modified" when the tree had uncommitted
// changes), and the Go version.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "gateway (no build information)"
	}
	vcs := map[string]string{}
	for _, s := range bi.Settings {
		vcs[s.Key] = s.Value
	}
	commit := "commit unknown"
	if rev := vcs["vcs.revision"]; rev != "" {
		commit = fmt.Sprintf("commit %.12s %s", rev, vcs["vcs.time"])
		if vcs["vcs.modified"] == "true" {
			commit += " modified"
		}
	}
	return fmt.Sprintf("gateway %s %s, %s, %s", bi.Main.Path, bi.Main.Version, commit, bi.GoVersion)
}

// newLoggers builds the JSON operational logger and the access logger.
// The gateway samples what it gives the access logger (as
// server.access_log says) by the clock reading it took anyway, so the
// logger itself does not sample: its Check reads the clock.
func newLoggers(level string) (*zap.Logger, *zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, nil, fmt.Errorf("-log-level: %w", err)
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl)
	log := zap.New(zapcore.NewSamplerWithOptions(core, time.Second, 100, 100))
	access := zap.New(core).Named("access")
	return log, access, nil
}
