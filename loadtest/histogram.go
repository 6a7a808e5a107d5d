package loadtest

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram ranges: microseconds from 1 µs to 10 minutes; longer latencies
// are recorded as 10 minutes.
const (
	histMinUs = 1
	histMaxUs = int64(10 * time.Minute / time.Microsecond)
	// histDigits is the precision of whole-run histograms (0.1%), and
	// secondDigits of per-second ones (1%, a seventh of the memory).
	histDigits   = 3
	secondDigits = 2
)

// Pseudo-statuses of tries that got no answer, in ClassReport.Status.
const (
	statusTimeout   = -1
	statusConnError = -2
)

// newHist returns an empty latency histogram with digits significant
// digits.
func newHist(digits int) *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinUs, histMaxUs, digits)
}

// recordLatency records d in h, clamped to the histogram's range.
func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), histMinUs), histMaxUs)
	h.RecordValue(us) //nolint:errcheck // in range by construction
}

// tally counts logical requests by outcome.
type tally struct {
	n [numOutcomes]int64
}

// secRec is what the requests scheduled in one second became.
type secRec struct {
	tally
	h *hdrhistogram.Histogram // nil until the first one completes
}

// classRec is what one class's requests became.
type classRec struct {
	tally
	ntries int64
	status map[int]int64           // per try; statusTimeout, statusConnError for none
	h      *hdrhistogram.Histogram // logical requests, from the scheduled send
	tries  *hdrhistogram.Histogram // each try, from its own send to its answer
	secs   []secRec                // by scheduled second
}

// add merges o into c.
func (c *classRec) add(o *classRec) {
	for i := range c.n {
		c.n[i] += o.n[i]
	}
	c.ntries += o.ntries
	for st, n := range o.status {
		c.status[st] += n
	}
	c.h.Merge(o.h)
	c.tries.Merge(o.tries)
	for s := range o.secs {
		c.sec(s).merge(&o.secs[s])
	}
}

// sec returns the record of second s, growing secs as needed.
func (c *classRec) sec(s int) *secRec {
	for len(c.secs) <= s {
		c.secs = append(c.secs, secRec{})
	}
	return &c.secs[s]
}

// merge adds o into r.
func (r *secRec) merge(o *secRec) {
	for i := range r.n {
		r.n[i] += o.n[i]
	}
	if o.h == nil {
		return
	}
	if r.h == nil {
		r.h = newHist(secondDigits)
	}
	r.h.Merge(o.h)
}

// shard is one lock's worth of class records; workers record into the
// shard of their id.
type shard struct {
	mu      sync.Mutex // guards classes
	classes []classRec
	_       [64]byte // keeps shards' locks on separate cache lines
}

// recorder holds the results of a run, sharded to keep lock contention
// low. It is safe for concurrent use.
type recorder struct {
	shards []shard
}

// newRecorder returns a recorder of nclass classes with nshard shards.
func newRecorder(nclass, nshard int) *recorder {
	r := &recorder{shards: make([]shard, nshard)}
	for i := range r.shards {
		r.shards[i].classes = newClassRecs(nclass)
	}
	return r
}

// newClassRecs returns n empty class records.
func newClassRecs(n int) []classRec {
	cs := make([]classRec, n)
	for i := range cs {
		cs[i] = classRec{status: map[int]int64{}, h: newHist(histDigits), tries: newHist(histDigits)}
	}
	return cs
}

// record adds one finished logical request of class, scheduled in second
// sec, that ended with o after lat, its tries having had statuses and
// taken tryUs microseconds each. It uses the shard of worker id.
func (r *recorder) record(id, class, sec int, o outcome, lat time.Duration, statuses []int16, tryUs []int32) {
	sh := &r.shards[id%len(r.shards)]
	sh.mu.Lock()
	c := &sh.classes[class]
	c.n[o]++
	c.ntries += int64(len(statuses))
	for i, st := range statuses {
		c.status[int(st)]++
		c.tries.RecordValue(max(int64(tryUs[i]), histMinUs)) //nolint:errcheck // in range by construction
	}
	recordLatency(c.h, lat)
	s := c.sec(sec)
	s.n[o]++
	if s.h == nil {
		s.h = newHist(secondDigits)
	}
	recordLatency(s.h, lat)
	sh.mu.Unlock()
}

// merged returns every class's record, the shards merged. Call it when no
// more requests are recorded.
func (r *recorder) merged() []classRec {
	out := newClassRecs(len(r.shards[0].classes))
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for c := range out {
			out[c].add(&sh.classes[c])
		}
		sh.mu.Unlock()
	}
	return out
}

// p99SoFar returns the 99th percentile of every class's latency so far,
// merging the shards' histograms; 0 when nothing completed.
func (r *recorder) p99SoFar() time.Duration {
	h := newHist(histDigits)
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for c := range sh.classes {
			h.Merge(sh.classes[c].h)
		}
		sh.mu.Unlock()
	}
	return time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
}
