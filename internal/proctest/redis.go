package proctest

import (
	"bufio"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server the test started on a free loopback port, with
// no persistence: a restart starts it empty, as after a crash.
type Redis struct {
	// Addr is host:port; it stays the same across Restart.
	Addr string

	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
	out  *SyncBuffer
}

// StartRedis starts redis-server (scripts/deps.sh redis installs it; make
// test runs that) and waits until it answers PING. It is stopped when the
// test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed: run scripts/deps.sh redis (make test does)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &Redis{Addr: addr, t: t}
	r.start()
	t.Cleanup(r.Kill)
	return r
}

func (r *Redis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	r.out = &SyncBuffer{}
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning")
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(r.cmd, r.done) //nolint:errcheck
	deadline := time.Now().Add(10 * time.Second)
	for !r.ping() {
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s does not answer PING after 10s:\n%s", r.Addr, r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping reports whether the server answers PING.
func (r *Redis) ping() bool {
	_, err := r.Do("PING")
	return err == nil
}

// Do sends one inline command and returns the first line of the answer,
// for tests that look at Redis directly.
func (r *Redis) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (r *Redis) Kill() {
	select {
	case <-r.done:
	default:
		r.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck
		<-r.done
	}
}

// Pause stops the server without closing its connections (SIGSTOP): it
// accepts nothing and answers nothing until Resume.
func (r *Redis) Pause() { r.cmd.Process.Signal(syscall.SIGSTOP) } //nolint:errcheck

// Resume continues a paused server.
func (r *Redis) Resume() { r.cmd.Process.Signal(syscall.SIGCONT) } //nolint:errcheck

// Restart starts a new, empty server on the same address after Kill.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	r.start()
}
