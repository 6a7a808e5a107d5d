package loadtest

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// RequestLine is one line of the per-request output (Options.Requests,
// loadtest -requests FILE): a logical request as it ended.
type RequestLine struct {
	Seq     uint64 `json:"seq"`
	Class   string `json:"class"`
	SchedMs int64  `json:"sched_ms"` // scheduled send, from the run's start
	// LatencyMs runs from the scheduled send to the final outcome, retries
	// included; TriesMs are each try's own latency, Statuses its status
	// (-1 timeout, -2 no answer).
	LatencyMs float64   `json:"latency_ms"`
	Outcome   string    `json:"outcome"` // ok, shed, error, timeout
	Statuses  []int16   `json:"statuses"`
	TriesMs   []float64 `json:"tries_ms"`
}

// requestLog writes RequestLines, one at a time, buffered.
type requestLog struct {
	mu  sync.Mutex // guards w and enc
	w   *bufio.Writer
	enc *json.Encoder
}

func newRequestLog(w io.Writer) *requestLog {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &requestLog{w: bw, enc: json.NewEncoder(bw)}
}

func (l *requestLog) write(j *job, class string, lat time.Duration) {
	n := int(j.try) + 1
	line := RequestLine{Seq: j.seq, Class: class, SchedMs: j.sched.Milliseconds(), LatencyMs: ms(lat),
		Outcome: outcomeNames[j.last], Statuses: j.statuses[:n:n], TriesMs: make([]float64, n)}
	for i, us := range j.tryUs[:n] {
		line.TriesMs[i] = float64(us) / 1000
	}
	l.mu.Lock()
	l.enc.Encode(&line) //nolint:errcheck // flush reports the first error
	l.mu.Unlock()
}

func (l *requestLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Flush() //nolint:errcheck // the caller's file close reports it
}
