//go:build linux

package upstream

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// answerAfter listens on loopback and answers each line it reads with one
// line, delay after reading it.
func answerAfter(t testing.TB, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					time.Sleep(delay)
					if _, err := c.Write([]byte("answer\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestKernelTimingExcludesLateRead: an answer sent 20 ms after its request
// and read 200 ms later carries the kernel's arrival time, 20 ms after the
// send, not the read's.
func TestKernelTimingExcludesLateRead(t *testing.T) {
	if !kernelTimestamps() {
		t.Skip("no SO_TIMESTAMPNS here")
	}
	c, err := net.Dial("tcp", answerAfter(t, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	tc := timed(c)
	defer tc.Close()
	if _, ok := tc.(*timedConn); !ok {
		t.Fatalf("timed returned %T, want *timedConn", tc)
	}
	for round := range 3 {
		a := tc.RemoteAddr().(*rxAddr)
		start := time.Now()
		if _, err := tc.Write([]byte("request\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		buf := make([]byte, 64)
		n, err := tc.Read(buf)
		if err != nil || string(buf[:n]) != "answer\n" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
		wall := time.Since(start)
		rtt := time.Duration(a.rx.Load() - a.sent.Load())
		t.Logf("round %d: kernel round trip %v, read after %v", round, rtt, wall)
		if rtt < 20*time.Millisecond || rtt > 60*time.Millisecond {
			t.Errorf("round %d: kernel round trip %v, want 20-60ms (read after %v)", round, rtt, wall)
		}
		if wall < 200*time.Millisecond {
			t.Errorf("round %d: read after %v, want >= 200ms", round, wall)
		}
	}
}

// TestTimingOfThroughPool: a pool's answers are kernel-timed, and the
// timing of an answer survives the next round trips on its connection
// (rxSlots records).
func TestTimingOfThroughPool(t *testing.T) {
	if !kernelTimestamps() {
		t.Skip("no SO_TIMESTAMPNS here")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond)
		w.Write([]byte("ok"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p, err := newPool(Config{Name: "t", Targets: []string{ln.Addr().String()}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	k0, w0 := TimedAnswers()
	var first Timing
	var firstResp fasthttp.Response
	for i := range rxSlots - 1 {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + ln.Addr().String() + "/")
		start := time.Now()
		if err := p.Send(req, resp, time.Now().Add(time.Second), true); err != nil {
			t.Fatal(err)
		}
		tm := TimingOf(resp, time.Since(start))
		if !tm.Kernel || tm.RTT < 10*time.Millisecond || tm.RTT > tm.RTT+tm.Local {
			t.Fatalf("answer %d: %+v, want kernel-timed, >= 10ms", i, tm)
		}
		if i == 0 {
			first = tm
			resp.CopyTo(&firstResp)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	if again := TimingOf(&firstResp, first.RTT+first.Local); again.RTT != first.RTT {
		t.Errorf("first answer's timing after %d more round trips: %v, was %v", rxSlots-2, again.RTT, first.RTT)
	}
	if k, w := TimedAnswers(); k-k0 < rxSlots-1 || w != w0 {
		t.Errorf("timed answers: kernel +%d, wall +%d; want +%d, +0", k-k0, w-w0, rxSlots-1)
	}
	if TimingSource() != "kernel" {
		t.Errorf("TimingSource() = %q", TimingSource())
	}
}

// TestTimedReadAllocatesNothing: a round trip's timed write and read
// allocate nothing.
func TestTimedReadAllocatesNothing(t *testing.T) {
	if !kernelTimestamps() {
		t.Skip("no SO_TIMESTAMPNS here")
	}
	c, s := timedPair(t)
	buf := make([]byte, 64)
	msg := []byte("x\n")
	allocs := testing.AllocsPerRun(200, func() {
		c.RemoteAddr()
		c.Write(msg)
		s.Read(buf[:2])
		s.Write(msg)
		c.Read(buf)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round trip, want 0", allocs)
	}
}

// timedPair returns a timed client connection and the server's end of it.
func timedPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return timed(c), s
}

// BenchmarkUpstreamRead times one request and answer on loopback through a
// timed connection (plain=false) and a plain one: the difference is the
// cost of the timestamps per upstream read.
func BenchmarkUpstreamRead(b *testing.B) {
	for _, kind := range []string{"plain", "timed"} {
		b.Run(kind, func(b *testing.B) {
			c, s := timedPair(b)
			if kind == "plain" {
				c = c.(*timedConn).TCPConn
			}
			buf := make([]byte, 512)
			msg := make([]byte, 200)
			b.ReportAllocs()
			for b.Loop() {
				c.RemoteAddr()
				c.Write(msg)
				readFull(s, buf[:len(msg)])
				s.Write(msg)
				readFull(c, buf[:len(msg)])
			}
		})
	}
}

func readFull(c net.Conn, p []byte) {
	for len(p) > 0 {
		n, err := c.Read(p)
		if err != nil {
			return
		}
		p = p[n:]
	}
}
