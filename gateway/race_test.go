//go:build race

package gateway

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts mean nothing under it (make test runs this package
// without -race; see the Makefile).
const raceEnabled = true
