// Package proctest builds the project's commands and runs them as real
// processes on loopback for integration tests: it reads the "listening on"
// line a command prints to learn its ports, and stops what it started when
// the test ends. It is for tests only and must not be imported by
// production code.
package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildMu  sync.Mutex // guards built
	built    = map[string]string{}
	buildDir string
)

// Build compiles the command in package pkg (for example
// "shedgate/cmd/gateway") once per test binary and returns the executable's
// path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "proctest-bin-")
		if err != nil {
			t.Fatalf("temp dir: %v", err)
		}
		buildDir = dir
	}
	out := filepath.Join(buildDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = moduleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ModuleRoot returns the repository root, for tests that read shipped files.
func ModuleRoot() string { return moduleRoot() }

// Proc is a started command.
type Proc struct {
	// Addrs are the addresses named on the command's "listening on" line,
	// in order (for example the main and the admin listener).
	Addrs []string

	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	stderr *SyncBuffer
}

// Start runs bin with args, waits up to 10 s for its first stdout line of
// the form "<name> listening on ADDR [admin ADDR]" and returns the process.
// The process is killed when the test ends if it is still running.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{cmd: exec.Command(bin, args...), done: make(chan struct{}),
		stderr: &SyncBuffer{}}
	p.cmd.Stderr = p.stderr
	pipe, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(pipe)
		line, _ := r.ReadString('\n')
		lines <- line
		io.Copy(io.Discard, r) //nolint:errcheck // keep the pipe from filling
	}()
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.Kill() })
	select {
	case line := <-lines:
		p.Addrs = parseAddrs(line)
		if len(p.Addrs) == 0 {
			t.Fatalf("%s: no listening line, got %q; stderr:\n%s", filepath.Base(bin), line, p.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not listening after 10s; stderr:\n%s", filepath.Base(bin), p.stderr.String())
	}
	return p
}

// parseAddrs reads "x listening on A admin B" into [A, B].
func parseAddrs(line string) []string {
	_, rest, ok := strings.Cut(strings.TrimSpace(line), "listening on ")
	if !ok {
		return nil
	}
	var addrs []string
	for i, f := range strings.Fields(rest) {
		if i%2 == 0 {
			addrs = append(addrs, f)
		}
	}
	return addrs
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to exit and returns its exit
// code, or -1 if it did not exit in time.
func (p *Proc) Wait(timeout time.Duration) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		return -1
	}
}

// Kill stops the process if it is still running.
func (p *Proc) Kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck
		<-p.done
	}
}

// RSS returns the process's resident memory in bytes, from /proc.
func (p *Proc) RSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("read status of pid %d: %v", p.cmd.Process.Pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb) //nolint:errcheck
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS for pid %d", p.cmd.Process.Pid)
	return 0
}

// CPUTime returns the CPU time the process has used so far (user and
// system), from /proc (clock ticks of 10 ms).
func (p *Proc) CPUTime(t testing.TB) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("read stat of pid %d: %v", p.cmd.Process.Pid, err)
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	var utime, stime int64
	fmt.Sscan(f[11], &utime) //nolint:errcheck
	fmt.Sscan(f[12], &stime) //nolint:errcheck
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Run runs bin with args to completion (at most timeout) and returns its
// exit code and combined output.
func Run(t testing.TB, timeout time.Duration, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() //nolint:errcheck
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill() //nolint:errcheck
		<-done
		t.Fatalf("%s did not finish in %v; output:\n%s", filepath.Base(bin), timeout, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// SyncBuffer collects a process's output: its writers (the process's
// output goroutines) and a test reading it may run at once.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WriteFile writes a file under t.TempDir and returns its path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
	return p
}
