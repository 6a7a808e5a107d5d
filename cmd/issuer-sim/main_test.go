package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runMainEnv makes the test binary act as issuer-sim, so the tests can start
// it as a real process without building it.
const runMainEnv = "ISSUER_SIM_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestProcessPrintsAddressesAndExitsOnSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-service-time", "1ms", "-key-seed", "00ff")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(10 * time.Second):
		t.Fatal("no line on stdout within 10s")
	}
	m := regexp.MustCompile(`^issuer-sim listening on (127\.0\.0\.1:\d+) admin (127\.0\.0\.1:\d+)\n$`).FindStringSubmatch(line)
	if m == nil || strings.HasSuffix(m[1], ":0") {
		t.Fatalf("stdout line: got %q; want issuer-sim listening on <addr> admin <addr>", line)
	}
	for _, url := range []string{"http://" + m[1] + "/v1/keys", "http://" + m[2] + "/healthz"} {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: got %d; want 200", url, resp.StatusCode)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: got %v (stderr %q); want status 0", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s of SIGTERM")
	}
}

func TestBadFlags(t *testing.T) {
	f := func(wantMsg string, args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), wantMsg) || stdout.Len() != 0 {
			t.Errorf("run(%q): got exit %d, stderr %q, stdout %q; want non-zero, %q", args, code, stderr.String(), stdout.String(), wantMsg)
		}
	}
	f("invalid -workers 0", "-workers", "0")
	f("invalid -service-time", "-service-time", "-1s")
	f("invalid -growth", "-growth", "0")
	f("invalid -key-seed", "-key-seed", "xyz")
	f("error rate", "-error-rate", "1.5")
	f("negative latency", "-latency", "-1ms")
	f("flag provided but not defined: -nope", "-nope")
	f("invalid value", "-workers", "many")
	f("unexpected argument", "extra")
	f("-listen: ", "-listen", "256.0.0.1:x", "-admin", "127.0.0.1:0")
	f("-admin: ", "-listen", "127.0.0.1:0", "-admin", "256.0.0.1:x")
}
