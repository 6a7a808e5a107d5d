package deadlines

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// pair returns a connected loopback pair: the server side wrapped by s.
func pair(t *testing.T, s *Sweeper) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := s.Wrap(server.(*net.TCPConn), nil)
	t.Cleanup(func() { c.Close(); client.Close() })
	return c, client
}

func TestBlockedReadEndsAtItsDeadlineNeverBefore(t *testing.T) {
	s := New(5 * time.Millisecond)
	stop := make(chan struct{})
	defer close(stop)
	go s.Run(stop)
	c, _ := pair(t, s)
	start := time.Now()
	deadline := start.Add(50 * time.Millisecond)
	c.SetReadDeadline(deadline)
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %v; want os.ErrDeadlineExceeded", err)
	}
	if now := time.Now(); now.Before(deadline) {
		t.Fatalf("Read ended %v before its deadline", deadline.Sub(now))
	}
	if s.fired.Load() != 1 {
		t.Fatalf("Fired %d; want 1", s.fired.Load())
	}
}

func TestMovedDeadlineDoesNotFire(t *testing.T) {
	s := New(time.Hour) // swept by hand
	c, client := pair(t, s)
	c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	c.SetReadDeadline(time.Now().Add(time.Hour))
	time.Sleep(20 * time.Millisecond)
	s.Sweep()
	client.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil || buf[0] != 'x' {
		t.Fatalf("Read after a moved deadline: %q, %v", buf, err)
	}
	if s.fired.Load() != 0 {
		t.Fatalf("Fired %d; want 0", s.fired.Load())
	}
}

// A deadline that passes while nobody reads (a handler running) is forced;
// the next deadline set clears it, so the connection reads again.
func TestForcedDeadlineClearedBySettingAnother(t *testing.T) {
	s := New(time.Hour)
	c, client := pair(t, s)
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	time.Sleep(5 * time.Millisecond)
	s.Sweep()
	if s.fired.Load() != 1 {
		t.Fatalf("Fired %d; want 1", s.fired.Load())
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read while forced: %v; want os.ErrDeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Now().Add(time.Hour))
	client.Write([]byte("y"))
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil || buf[0] != 'y' {
		t.Fatalf("Read after a new deadline: %q, %v", buf, err)
	}
	s.Sweep() // the forced one is gone, the new one not due
	if s.fired.Load() != 1 {
		t.Fatalf("Fired %d; want 1", s.fired.Load())
	}
}

func TestPastDeadlineAppliesAtOnce(t *testing.T) {
	s := New(time.Hour)
	c, _ := pair(t, s)
	c.SetReadDeadline(time.Unix(1, 0))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read: %v; want os.ErrDeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Time{})
	if c.read.forced.Load() {
		t.Fatal("zero deadline left the past one forced")
	}
}

func TestBlockedWriteEndsAtItsDeadline(t *testing.T) {
	s := New(5 * time.Millisecond)
	stop := make(chan struct{})
	defer close(stop)
	go s.Run(stop)
	c, _ := pair(t, s) // the client never reads
	deadline := time.Now().Add(50 * time.Millisecond)
	c.SetWriteDeadline(deadline)
	chunk := make([]byte, 1<<20)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = c.Write(chunk)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write: %v; want os.ErrDeadlineExceeded", err)
	}
	if time.Now().Before(deadline) {
		t.Fatal("Write ended before its deadline")
	}
}

func TestCloseRemoves(t *testing.T) {
	s := New(time.Hour)
	a, _ := pair(t, s)
	b, _ := pair(t, s)
	c, _ := pair(t, s)
	if s.Len() != 3 {
		t.Fatalf("Len %d; want 3", s.Len())
	}
	b.SetReadDeadline(time.Now())
	b.Close()
	a.Close()
	if s.Len() != 1 || s.conns[0] != c || c.idx != 0 {
		t.Fatalf("after two closes: Len %d, idx %d", s.Len(), c.idx)
	}
	time.Sleep(time.Millisecond)
	s.Sweep()
	if s.fired.Load() != 0 {
		t.Fatalf("a closed connection's deadline fired: %d", s.fired.Load())
	}
	closed := false
	d := New(time.Hour).Wrap(c.TCPConn, func(*net.TCPConn) error { closed = true; return nil })
	d.Close()
	if !closed {
		t.Fatal("Close did not call its close function")
	}
}

// Sets racing with sweeps never leave a connection forced behind a
// deadline that is not due: after the last set, the connection reads.
func TestSetsRacingSweepsNeverStickForced(t *testing.T) {
	s := New(time.Hour)
	c, client := pair(t, s)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				s.Sweep()
			}
		}
	}()
	// Until the sweeps have forced 50 (bounded in time): alternate
	// deadlines just due and far ahead, as fasthttp's idle and read
	// deadlines alternate.
	start := time.Now()
	for i := 0; s.fired.Load() < 50 && time.Since(start) < 10*time.Second; i++ {
		if i%2 == 0 {
			c.SetReadDeadline(time.Now())
		} else {
			c.SetReadDeadline(time.Now().Add(time.Hour))
		}
	}
	c.SetReadDeadline(time.Now().Add(time.Hour)) // the last set, still racing sweeps
	close(stop)
	wg.Wait()
	if s.fired.Load() == 0 {
		t.Fatal("no sweep fired: the race was not exercised")
	}
	client.Write([]byte("z"))
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil || buf[0] != 'z' {
		t.Fatalf("Read after racing sets (%d fired): %q, %v", s.fired.Load(), buf, err)
	}
}

func TestSetAllocatesNothing(t *testing.T) {
	s := New(time.Hour)
	c, _ := pair(t, s)
	d := time.Now().Add(time.Hour)
	if n := testing.AllocsPerRun(1000, func() { c.SetReadDeadline(d); c.SetWriteDeadline(d) }); n != 0 {
		t.Fatalf("%v allocs per set; want 0", n)
	}
}

// BenchmarkSetDeadline compares a deadline set on a swept Conn with one on
// the runtime's timer, alternating two deadlines as fasthttp does.
func BenchmarkSetDeadline(b *testing.B) {
	s := New(time.Hour)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	client, _ := net.Dial("tcp", ln.Addr().String())
	defer client.Close()
	server, _ := ln.Accept()
	defer server.Close()
	for _, bc := range []struct {
		name string
		conn net.Conn
	}{{"runtime-timer", server}, {"swept", s.Wrap(server.(*net.TCPConn), func(*net.TCPConn) error { return nil })}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				d := time.Minute
				if i%2 == 0 {
					d = 5 * time.Second
				}
				bc.conn.SetReadDeadline(time.Now().Add(d))
			}
		})
	}
}

// EvictIdle closes the connections idle the longest first, never one
// serving a request, and closes them for their peer at once.
func TestEvictIdleClosesTheLongestIdle(t *testing.T) {
	s := New(time.Hour)
	var conns []*Conn
	var peers []net.Conn
	for range 4 {
		c, p := pair(t, s)
		conns, peers = append(conns, c), append(peers, p)
	}
	for i, c := range []*Conn{conns[2], conns[0], conns[3]} { // idle in this order
		s.now.Store(int64(i+1) * int64(time.Second))
		c.SetIdle(true)
	}
	// conns[1] serves a request: never evicted.
	if n := s.EvictIdle(2); n != 2 || s.Len() != 2 {
		t.Fatalf("EvictIdle(2) = %d, %d left; want 2, 2", n, s.Len())
	}
	for i, want := range []bool{true, false, true, false} { // 2 and 0 went
		peers[i].SetReadDeadline(time.Now().Add(time.Second))
		_, err := peers[i].Read(make([]byte, 1))
		if gotClosed := err != nil && !errors.Is(err, os.ErrDeadlineExceeded); gotClosed != want {
			t.Errorf("connection %d: closed %v (%v); want %v", i, gotClosed, err, want)
		}
	}
	conns[3].SetIdle(false)
	if n := s.EvictIdle(5); n != 0 {
		t.Fatalf("EvictIdle with none idle = %d; want 0", n)
	}
}
