// Package listener keeps a server accepting through a shortage of file
// descriptors: fasthttp (like any server loop) ends Serve on an accept
// error it does not know as temporary, and EMFILE under a surge of
// connections is exactly when a server must not exit. Like net/http's
// Server, Accept waits with a growing pause (5 ms up to 1 s) and tries
// again. It does nothing else.
package listener

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// Listener is a net.Listener whose Accept outlasts EMFILE, ENFILE and
// ENOBUFS. OnPause, if set, is told of each pause (for a throttled log).
type Listener struct {
	net.Listener
	OnPause func(err error, pause time.Duration)
}

// Accept returns the next connection, pausing while the process or the
// system is out of descriptors or buffers.
func (l *Listener) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil || !exhausted(err) {
			return c, err
		}
		pause = min(max(2*pause, 5*time.Millisecond), time.Second)
		if l.OnPause != nil {
			l.OnPause(err, pause)
		}
		time.Sleep(pause)
	}
}

func exhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS)
}
