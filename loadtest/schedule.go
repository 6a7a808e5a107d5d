package loadtest

import (
	"math"
	"time"
)

// Limits of phases.
const (
	maxRate        = 1_000_000
	maxRunDuration = 24 * time.Hour
)

// phaseSched is one compiled phase: n arrivals between start and
// start+dur, the rate moving linearly from from to to.
type phaseSched struct {
	start    time.Duration
	dur      time.Duration
	from, to float64 // requests per second
	n        int64
}

// schedule is the sequence of arrival offsets of a run. It is immutable;
// walk it with a cursor.
type schedule struct {
	phases []phaseSched
	total  time.Duration
	count  int64
}

// compileSchedule validates phases and returns their schedule; problems
// are reported under "phases".
func compileSchedule(phases []Phase, report reportFunc) schedule {
	var s schedule
	if len(phases) == 0 {
		report("phases", "at least one phase is required")
	}
	for i, p := range phases {
		key := "phases[" + itoa(i) + "]"
		ps, ok := compilePhase(p, key, report)
		if !ok {
			continue
		}
		ps.start = s.total
		s.total += ps.dur
		s.count += ps.n
		s.phases = append(s.phases, ps)
	}
	if s.total > maxRunDuration {
		report("phases", "the phases last %v in all; at most %v", s.total, maxRunDuration)
	}
	return s
}

// compilePhase validates one phase.
func compilePhase(p Phase, key string, report reportFunc) (phaseSched, bool) {
	ps := phaseSched{dur: p.Duration}
	ok := true
	bad := func(field, format string, args ...any) {
		report(key+field, format, args...)
		ok = false
	}
	switch p.Kind {
	case "", "constant", "step":
		ps.from, ps.to = p.Rate, p.Rate
		if p.From != 0 || p.To != 0 {
			bad("", "from and to apply to kind ramp; a %s phase has rate", kindOr(p.Kind))
		}
	case "ramp":
		ps.from, ps.to = p.From, p.To
		if p.Rate != 0 {
			bad(".rate", "a ramp has from and to, not rate")
		}
	default:
		bad(".kind", "unknown kind %q (want constant, ramp or step)", p.Kind)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{".rate", p.Rate}, {".from", p.From}, {".to", p.To}} {
		if !(r.v >= 0 && r.v <= maxRate) {
			bad(r.name, "must be 0 to %d requests per second, got %v", maxRate, r.v)
		}
	}
	if p.Duration <= 0 {
		bad(".duration", "must be positive, got %v", p.Duration)
	}
	ps.n = int64(math.Round((ps.from + ps.to) / 2 * p.Duration.Seconds()))
	return ps, ok
}

// kindOr returns kind, or "constant" when empty.
func kindOr(kind string) string {
	if kind == "" {
		return "constant"
	}
	return kind
}

// at returns the offset from the phase start of arrival k (0 <= k < n):
// the time t where the arrivals so far, from*t + (to-from)*t²/(2*dur),
// reach k.
func (p *phaseSched) at(k int64) time.Duration {
	d := p.dur.Seconds()
	a, c := p.from, (p.to-p.from)/(2*d)
	disc := a*a + 4*c*float64(k)
	den := a + math.Sqrt(max(disc, 0))
	if den <= 0 {
		return 0
	}
	t := 2 * float64(k) / den
	return min(time.Duration(t*float64(time.Second)), p.dur-1)
}

// rateAt returns the phase's rate at offset off from its start.
func (p *phaseSched) rateAt(off time.Duration) float64 {
	return p.from + (p.to-p.from)*off.Seconds()/p.dur.Seconds()
}

// cursor walks a schedule's arrivals in order.
type cursor struct {
	s     *schedule
	phase int
	k     int64
}

// next returns the offset from the run start of the next arrival, and
// false when there are none left.
func (c *cursor) next() (time.Duration, bool) {
	for c.phase < len(c.s.phases) {
		p := &c.s.phases[c.phase]
		if c.k < p.n {
			off := p.start + p.at(c.k)
			c.k++
			return off, true
		}
		c.phase, c.k = c.phase+1, 0
	}
	return 0, false
}

// rateAt returns the scheduled rate at offset off from the run start.
func (s *schedule) rateAt(off time.Duration) float64 {
	for i := range s.phases {
		p := &s.phases[i]
		if off < p.start+p.dur {
			return p.rateAt(off - p.start)
		}
	}
	return 0
}
