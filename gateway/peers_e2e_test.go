package gateway_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shedgate/internal/proctest"
)

// The peer proxies the benches run side by side with the gateway: HAProxy
// (and nginx, in the per-core bench) from Debian's packages, each with its
// config written for the run and restarted if it dies before listening.

// haproxyConfig is the expert's HAProxy in front of the issuer on listen.
func haproxyConfig(listen, target string) string {
	return haproxyConfigMax(listen, target, admWorkers)
}

// haproxyConfigMax is haproxyConfig with maxconn requests at the issuer.
func haproxyConfigMax(listen, target string, maxconn int) string {
	return fmt.Sprintf(`global
  maxconn 8000
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 2s
  timeout queue 500ms
cache codes
  total-max-size 256
  max-object-size 16384
  max-age 2592000
frontend fe
  bind %s
  http-request set-priority-class int(2)
  http-request set-priority-class int(0) if { method POST } { path /v1/scans }
  http-request set-priority-class int(1) if { method POST } { path_reg ^/v1/venues/[^/]+/checkins$ }
  http-request set-priority-class int(1) if { path_beg /v1/health/ }
  http-request set-priority-class int(3) if { method POST } { path_end /reissue }
  default_backend issuer
backend issuer
  http-request cache-use codes if { method GET } { path_reg ^/v1/codes/[^/]+$ }
  http-response cache-store codes
  server s1 %s maxconn %d
`, listen, target, maxconn)
}

// haproxyL4Config spreads connections over the gateways, as an L4 load
// balancer in front of a fleet would.
func haproxyL4Config(listen string, gateways []string) string {
	var servers strings.Builder
	for i, g := range gateways {
		fmt.Fprintf(&servers, "  server g%d %s\n", i, g)
	}
	return fmt.Sprintf(`global
  maxconn 8000
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend fe
  bind %s
  default_backend fleet
backend fleet
  balance roundrobin
%s`, listen, servers.String())
}

// startHAProxy runs haproxy with config in the foreground until the test
// ends and returns its address. It skips the test when haproxy is not
// installed (scripts/deps.sh haproxy installs it).
func startHAProxy(t *testing.T, config func(listen string) string) string {
	t.Helper()
	return startHAProxyOn(t, -1, config)
}

// startHAProxyOn is startHAProxy pinned to CPU cpu (taskset; -1:
// anywhere). HAProxy runs a thread per CPU it may use: one, pinned.
func startHAProxyOn(t *testing.T, cpu int, config func(listen string) string) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/haproxy"); err != nil {
			t.Skip("haproxy not installed: scripts/deps.sh haproxy")
		}
	}
	return startConfigured(t, onCPU(t, cpu, []string{bin, "-db", "-f"}), "haproxy.cfg", config)
}

// startConfigured writes config (given the loopback address to listen on)
// to a file named file, runs argv with the file's path appended until the
// test ends, and returns the address once something accepts connections
// there. The address is a port the kernel handed out and this process let
// go of, so another socket can take it before argv binds it; a process
// that exits before it accepts is started again on another port, twice at
// most (seen once: HAProxy did not come up in 5 s right after a surge's
// thousands of connections).
func startConfigured(t *testing.T, argv []string, file string, config func(listen string) string) string {
	t.Helper()
	for try := 1; ; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cfg := filepath.Join(t.TempDir(), file)
		if err := os.WriteFile(cfg, []byte(config(addr)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(argv[0], append(argv[1:], cfg)...)
		var out proctest.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()          //nolint:errcheck
		t.Cleanup(func() { cmd.Process.Kill(); <-exited }) //nolint:errcheck
		name := filepath.Base(argv[0])
		switch up, gone := awaitListener(addr, exited, 5*time.Second); {
		case up:
			return addr
		case !gone:
			t.Fatalf("%s not listening on %s after 5 s; its output: %s", name, addr, out.String())
		case try < 3:
			t.Logf("%s exited before listening on %s (try %d); its output: %s", name, addr, try, out.String())
		default:
			t.Fatalf("%s exited before listening on %s, three times; its output: %s", name, addr, out.String())
		}
	}
}

// awaitListener reports whether something accepts connections on addr
// within timeout, or else whether exited closed first.
func awaitListener(addr string, exited <-chan struct{}, timeout time.Duration) (up, gone bool) {
	deadline := time.After(timeout)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return true, false
		}
		select {
		case <-exited:
			return false, true
		case <-deadline:
			return false, false
		case <-time.After(20 * time.Millisecond):
		}
	}
}
