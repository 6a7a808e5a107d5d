//go:build race

package upstream

// raceEnabled: the race detector makes sync.Pool drop items, so pooled
// buffers get allocated again and allocation counts mean nothing.
const raceEnabled = true
