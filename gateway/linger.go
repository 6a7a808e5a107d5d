package gateway

import (
	"io"
	"net"
	"time"
)

// Lingering close: when the gateway answers before reading a whole request
// (431 for an oversize header, 413 for an oversize body) and closes, the
// unread bytes left in the socket make the kernel send a reset, which can
// destroy the error answer before the client reads it. Like other servers
// (nginx's lingering_close, Go's net/http), the gateway half-closes, reads
// and discards what the client is still sending for a moment, then closes.
const (
	lingerTimeout = 500 * time.Millisecond
	lingerMaxRead = 256 << 10
)

// lingerConn closes its TCP connection with a lingering close.
type lingerConn struct {
	*net.TCPConn
}

func (c lingerConn) Close() error { return lingerClose(c.TCPConn) }

func lingerClose(c *net.TCPConn) error {
	if err := c.CloseWrite(); err != nil {
		return c.Close()
	}
	go func() {
		c.SetReadDeadline(time.Now().Add(lingerTimeout)) //nolint:errcheck
		io.CopyN(io.Discard, c, lingerMaxRead)           //nolint:errcheck
		c.Close()
	}()
	return nil
}

// Accept wraps TCP connections for a lingering close and, on a listener
// with a sweeper (the public one), for swept deadlines.
// On the public listener it keeps the connections open at most
// l.conns.max: at the cap it closes the longest idle ones, and the new
// one when none is idle (TestIdleConnectionsCannotLockOut).
func (l *boundListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		tc, ok := c.(*net.TCPConn)
		if !ok || err != nil {
			return c, err
		}
		if l.sweeper == nil {
			return lingerConn{tc}, nil
		}
		if l.conns.admit(l.sweeper) {
			return l.sweeper.Wrap(tc, lingerClose), nil
		}
		tc.Close() //nolint:errcheck // at the cap with nothing idle to close
	}
}

// deadlineSweep is how often the public connections' deadlines are
// checked: a read, idle or write timeout ends a connection between 0 and
// this late.
const deadlineSweep = 100 * time.Millisecond
