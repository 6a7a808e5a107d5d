package loadtest

import (
	"syscall"
)

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h): bind(2)
// keeps the address and leaves the port to connect(2), which picks one by
// the whole 4-tuple.
const ipBindAddressNoPort = 24

// bindAddressNoPort sets IP_BIND_ADDRESS_NO_PORT on a socket about to be
// bound to a source address; a failure leaves the kernel's default.
func bindAddressNoPort(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1) //nolint:errcheck
	})
}
