package loadtest

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// IsTerminal reports whether f is a terminal (a character device), where a
// live progress line makes sense.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// console writes the harness's lines (notes, warnings) to one writer and,
// on a terminal, a status line rewritten in place below them. It is safe
// for concurrent use; a nil writer discards everything.
type console struct {
	mu   sync.Mutex // guards w and live
	w    io.Writer
	tty  bool
	live bool // a status line is on screen
}

// newConsole returns a console writing to w; tty enables the status line.
func newConsole(w io.Writer, tty bool) *console {
	return &console{w: w, tty: tty && w != nil}
}

// printf writes one line, clearing the status line first.
func (c *console) printf(format string, args ...any) {
	if c == nil || c.w == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live {
		io.WriteString(c.w, "\r\x1b[K") //nolint:errcheck
		c.live = false
	}
	fmt.Fprintf(c.w, "loadtest: "+strings.TrimSuffix(format, "\n")+"\n", args...)
}

// status rewrites the status line; it does nothing off a terminal.
func (c *console) status(line string) {
	if c == nil || !c.tty {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	io.WriteString(c.w, "\r\x1b[K"+line) //nolint:errcheck
	c.live = true
}

// endStatus ends the status line with a newline, leaving it on screen.
func (c *console) endStatus() {
	if c == nil || !c.tty {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live {
		io.WriteString(c.w, "\n") //nolint:errcheck
		c.live = false
	}
}

// progress rewrites the status line every second until stop is closed:
// time, send rate against the target, outcomes so far, p99 so far and the
// requests in flight.
func (r *runner) progress(stop <-chan struct{}) {
	if !r.con.tty {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastSent int64
	for {
		select {
		case <-stop:
			r.con.endStatus()
			return
		case <-tick.C:
		}
		el := time.Since(r.start)
		sent := r.live.sent.Load()
		r.con.status(fmt.Sprintf("%4.0fs/%.0fs  sent %d/s (target %.0f/s)  ok %d  shed %d  errors %d  timeouts %d  p99 %s  in flight %d",
			el.Seconds(), r.plan.sched.total.Seconds(), sent-lastSent, r.plan.sched.rateAt(el),
			r.live.done[outOK].Load(), r.live.done[outShed].Load(), r.live.done[outError].Load(),
			r.live.done[outTimeout].Load(), fmtMs(r.rec.p99SoFar()), r.pool.inFlight.Load()))
		lastSent = sent
	}
}

// fmtMs formats d in milliseconds with a precision that suits it.
func fmtMs(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}
