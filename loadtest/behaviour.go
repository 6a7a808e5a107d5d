package loadtest

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// outcome is how a try, or a logical request, ended.
type outcome uint8

const (
	outOK      outcome = iota // 2xx or a listed domain status
	outShed                   // 429 or 503
	outError                  // another status, or no answer (refused, reset)
	outTimeout                // no answer within the per-try timeout
	numOutcomes
)

// outcomeNames are the names of outcomes in retry_on and reports.
var outcomeNames = [numOutcomes]string{"ok", "shed", "error", "timeout"}

// Client behaviour kinds.
const (
	kindPatient = iota
	kindImpatient
	kindPolite
)

// Limits of client behaviours.
const maxRetries = 10

// behaviour is a compiled Client: immutable, safe for concurrent use.
type behaviour struct {
	kind          int
	retries       int
	retryOn       [numOutcomes]bool
	delay         time.Duration
	maxRetryAfter time.Duration
}

// compileClient validates c and returns its behaviour; problems are
// reported under key.
func compileClient(c Client, key string, report reportFunc) *behaviour {
	b := &behaviour{maxRetryAfter: DefaultMaxRetryAfter}
	var on []string
	switch c.Kind {
	case "patient":
		b.kind = kindPatient
	case "impatient":
		b.kind, b.retries, on = kindImpatient, 3, []string{"timeout", "error", "shed"}
	case "polite":
		b.kind, b.retries, b.delay, on = kindPolite, 3, time.Second, []string{"shed"}
	case "":
		report(key+".kind", "required: patient, impatient or polite")
	default:
		report(key+".kind", "unknown kind %q (want patient, impatient or polite)", c.Kind)
	}
	if c.Retries != nil {
		b.retries = *c.Retries
	}
	if c.RetryOn != nil {
		on = c.RetryOn
	}
	if c.RetryDelay != nil {
		b.delay = *c.RetryDelay
	}
	if c.MaxRetryAfter != 0 {
		b.maxRetryAfter = c.MaxRetryAfter
	}
	b.check(c, on, key, report)
	return b
}

// check validates the fields of b taken from c.
func (b *behaviour) check(c Client, on []string, key string, report reportFunc) {
	if b.kind == kindPatient && (c.Retries != nil && *c.Retries != 0 || c.RetryOn != nil) {
		report(key, "a patient client never retries: use impatient or polite")
	}
	if b.retries < 0 || b.retries > maxRetries {
		report(key+".retries", "must be 0 to %d, got %d", maxRetries, b.retries)
	}
	if b.delay < 0 || b.delay > time.Minute {
		report(key+".retry_delay", "must be 0 to 1m, got %v", b.delay)
	}
	if b.maxRetryAfter < 0 || b.maxRetryAfter > 10*time.Minute {
		report(key+".max_retry_after", "must be 0 to 10m, got %v", b.maxRetryAfter)
	}
	if c.Weight != nil && !(*c.Weight > 0) {
		report(key+".weight", "must be positive, got %v", *c.Weight)
	}
	for i, name := range on {
		o := outcomeIndex(name)
		if o == outOK || o >= numOutcomes {
			report(key+".retry_on["+strconv.Itoa(i)+"]", "unknown outcome %q (want timeout, error or shed)", name)
			continue
		}
		b.retryOn[o] = true
	}
}

// outcomeIndex returns the outcome named name, or numOutcomes or more
// when there is none.
func outcomeIndex(name string) outcome {
	for i, n := range outcomeNames {
		if n == name {
			return outcome(i)
		}
	}
	return outcome(255)
}

// retry says whether a logical request retries after its try number try
// (0 for the first) ended with o, and after what pause. retryAfter is the
// answer's Retry-After header, empty when none.
func (b *behaviour) retry(o outcome, try int, retryAfter []byte) (time.Duration, bool) {
	if o >= numOutcomes || !b.retryOn[o] || try >= b.retries {
		return 0, false
	}
	if b.kind != kindPolite || o != outShed {
		return b.delay, true
	}
	d, ok := parseRetryAfter(retryAfter, time.Now())
	if !ok {
		d = b.delay
	}
	return min(d, b.maxRetryAfter), true
}

// parseRetryAfter reads a Retry-After value: whole seconds or an HTTP
// date.
func parseRetryAfter(v []byte, now time.Time) (time.Duration, bool) {
	s := strings.TrimSpace(string(v))
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, 3600)) * time.Second, true
	}
	t, err := http.ParseTime(s)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// mix is a weighted choice among items.
type mix[T any] struct {
	items []T
	cum   []float64 // cumulative weights
}

// add appends item with weight w (> 0).
func (m *mix[T]) add(item T, w float64) {
	total := w
	if n := len(m.cum); n > 0 {
		total += m.cum[n-1]
	}
	m.items = append(m.items, item)
	m.cum = append(m.cum, total)
}

// pick returns an item chosen by weight.
func (m *mix[T]) pick(rng *rand.Rand) T {
	if len(m.items) == 1 {
		return m.items[0]
	}
	x := rng.Float64() * m.cum[len(m.cum)-1]
	lo, hi := 0, len(m.cum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if m.cum[mid] > x {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return m.items[lo]
}

// weightOr returns *w, or def when w is nil.
func weightOr(w *float64, def float64) float64 {
	if w == nil {
		return def
	}
	return *w
}
