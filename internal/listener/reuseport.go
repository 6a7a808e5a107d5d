package listener

import (
	"context"
	"net"
	"syscall"
)

// Listen binds a TCP listener on addr. With reusePort, the socket sets
// SO_REUSEPORT first, so that several processes (a fleet of gateways on
// one machine) bind the same port and the kernel spreads new connections
// over them.
func Listen(addr string, reusePort bool) (net.Listener, error) {
	if !reusePort {
		return net.Listen("tcp", addr)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setReusePort(fd) }); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}
