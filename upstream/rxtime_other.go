//go:build !linux

package upstream

import "net"

// kernelTimestamps: receive timestamps are read on Linux only.
func kernelTimestamps() bool { return false }

// timed returns c: round trips here are timed by the wall clock.
func timed(c net.Conn) net.Conn { return c }
