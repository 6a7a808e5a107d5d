//go:build !unix

package loadtest

import "time"

// processCPU is unknown here.
func processCPU() (time.Duration, bool) { return 0, false }

// machineCPU is unknown here.
func machineCPU() (busy, total int64, ok bool) { return 0, 0, false }
