package listener

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// flaky fails its first n Accepts with err, then accepts from a real
// loopback listener.
type flaky struct {
	net.Listener
	n   int
	err error
}

func (f *flaky) Accept() (net.Conn, error) {
	if f.n > 0 {
		f.n--
		return nil, &net.OpError{Op: "accept", Err: f.err}
	}
	return f.Listener.Accept()
}

func TestAcceptOutlastsEMFILE(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var pauses []time.Duration
	l := &Listener{Listener: &flaky{Listener: ln, n: 3, err: syscall.EMFILE},
		OnPause: func(err error, d time.Duration) { pauses = append(pauses, d) }}
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v; want a connection after the EMFILE pauses", err)
	}
	c.Close()
	if len(pauses) != 3 || pauses[0] != 5*time.Millisecond || pauses[2] != 20*time.Millisecond {
		t.Fatalf("pauses %v; want 3 growing from 5ms", pauses)
	}
}

func TestAcceptReturnsOtherErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ln.Close()
	l := &Listener{Listener: ln}
	if _, err := l.Accept(); err == nil || errors.Is(err, syscall.EMFILE) {
		t.Fatalf("closed listener: %v; want its error at once", err)
	}
}

func TestListenReusePortSharesAPort(t *testing.T) {
	a, err := Listen("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Listen(a.Addr().String(), true)
	if err != nil {
		t.Fatalf("second listener with SO_REUSEPORT on %s: %v", a.Addr(), err)
	}
	defer b.Close()
	if _, err := Listen(a.Addr().String(), false); err == nil {
		t.Fatal("a listener without SO_REUSEPORT bound a port already in use")
	}
}
