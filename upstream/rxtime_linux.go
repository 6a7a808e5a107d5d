//go:build linux

package upstream

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// kernelTimestamps reports whether TCP sockets here take SO_TIMESTAMPNS.
var kernelTimestamps = sync.OnceValue(func() bool {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(fd)
	return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1) == nil
})

// timedConn is a TCP connection to a target whose first read after each
// request takes the kernel's receive timestamp (recvmsg with
// SO_TIMESTAMPNS), so that the round trip excludes the time the answer
// waited for this process to read it. Reads after the first, until the
// next write, are plain reads. Not safe for concurrent reads (fasthttp
// reads a connection from one goroutine at a time).
type timedConn struct {
	*net.TCPConn
	raw    syscall.RawConn
	recvFn func(fd uintptr) bool // c.recv, bound once: Read allocates nothing
	slots  [rxSlots]rxAddr
	next   int
	cur    *rxAddr
	// awaiting: a request was written and its answer's first bytes not
	// yet read.
	awaiting bool

	// recv's arguments and results.
	p     []byte
	n     int
	errno syscall.Errno
	msg   syscall.Msghdr
	iov   syscall.Iovec
	oob   [64]byte
}

// timed wraps a dialled connection; a connection that is not TCP, or
// whose socket refuses receive timestamps, is returned as it is.
func timed(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok || !kernelTimestamps() {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return c
	}
	t := &timedConn{TCPConn: tc, raw: raw}
	t.recvFn = t.recv
	remote := tc.RemoteAddr()
	for i := range t.slots {
		t.slots[i].Addr = remote
	}
	t.cur = &t.slots[0]
	return t
}

// RemoteAddr hands out the next round trip's timing record.
func (c *timedConn) RemoteAddr() net.Addr {
	c.next = (c.next + 1) % rxSlots
	a := &c.slots[c.next]
	a.sent.Store(0)
	a.rx.Store(0)
	c.cur = a
	return a
}

func (c *timedConn) Write(p []byte) (int, error) {
	n, err := c.TCPConn.Write(p)
	if n > 0 {
		c.cur.sent.Store(time.Now().UnixNano())
		c.cur.rx.Store(0)
		c.awaiting = true
	}
	return n, err
}

func (c *timedConn) Read(p []byte) (int, error) {
	if !c.awaiting || len(p) == 0 {
		return c.TCPConn.Read(p)
	}
	c.p = p
	err := c.raw.Read(c.recvFn)
	c.p, c.iov.Base, c.msg.Control = nil, nil, nil
	if err != nil {
		return 0, err // a deadline or a closed connection, as the poller says
	}
	switch {
	case c.errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.TCPConn.RemoteAddr(), Err: os.NewSyscallError("recvmsg", c.errno)}
	case c.n == 0:
		return 0, io.EOF
	}
	c.awaiting = false
	if ts := rxStamp(c.oob[:c.msg.Controllen]); ts > 0 {
		c.cur.rx.Store(ts)
	}
	return c.n, nil
}

// recv is one non-blocking recvmsg into c.p; false asks the poller to
// wait for readability.
func (c *timedConn) recv(fd uintptr) bool {
	c.iov.Base = &c.p[0]
	c.iov.SetLen(len(c.p))
	c.msg.Iov = &c.iov
	c.msg.Iovlen = 1
	c.msg.Control = &c.oob[0]
	c.msg.SetControllen(len(c.oob))
	c.msg.Flags = 0
	for {
		n, _, errno := syscall.Syscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.msg)), 0)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.n, c.errno = int(n), errno
		return true
	}
}

// rxStamp returns the SCM_TIMESTAMPNS time in control messages oob (Unix
// ns), or 0.
func rxStamp(oob []byte) int64 {
	const hdr = syscall.SizeofCmsghdr
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < hdr || n > len(oob) {
			return 0
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && n >= hdr+int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[hdr]))
			return ts.Nano()
		}
		step := (n + int(unsafe.Sizeof(uintptr(0))) - 1) &^ (int(unsafe.Sizeof(uintptr(0))) - 1)
		if step > len(oob) {
			return 0
		}
		oob = oob[step:]
	}
	return 0
}
