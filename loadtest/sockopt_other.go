//go:build !linux

package loadtest

import "syscall"

// bindAddressNoPort does nothing off Linux.
func bindAddressNoPort(_, _ string, _ syscall.RawConn) error { return nil }
