//go:build !linux

package listener

import "errors"

func setReusePort(uintptr) error {
	return errors.New("server.reuse_port is supported on Linux only")
}
