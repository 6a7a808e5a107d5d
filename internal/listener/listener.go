// Package listener keeps a server accepting through a shortage of file
// descriptors: fasthttp (like any server loop) ends Serve on an accept
// error it does not know as temporary, and EMFILE under a surge of
// connections is exactly when a server must not exit. Like net/http's
// Server, Accept waits with a growing pause (5 ms up to 1 s) and tries
// again, unless Reclaim freed descriptors first (then it tries at once).
package listener

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// Listener is a net.Listener whose Accept outlasts EMFILE, ENFILE and
// ENOBUFS. OnPause, if set, is told of each pause (for a throttled log).
// Reclaim, if set, is asked to free descriptors (closing idle
// connections) before a pause, and returns how many it freed.
type Listener struct {
	net.Listener
	OnPause func(err error, pause time.Duration)
	Reclaim func() int
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
		if l.Reclaim != nil && l.Reclaim() > 0 {
			continue
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
