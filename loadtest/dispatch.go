package loadtest

import (
	"math/rand/v2"
	"time"
)

// maxParams caps the named params of a template.
const maxParams = 4

// job is one logical request, as the dispatcher hands it to a worker.
type job struct {
	sched  time.Duration // scheduled send, from the run start
	tmpl   int           // index in plan.tmplList
	b      *behaviour
	seq    uint64
	key    int64 // index of {key} (in the code pool when the template needs one)
	params [maxParams]int64

	// The tries so far.
	try      int8                  // index of the current try
	statuses [maxRetries + 1]int16 // each try's status, see classify
	tryUs    [maxRetries + 1]int32 // each try's own latency, microseconds
	last     outcome               // the outcome of the last try
}

// draws are one template's key drawers for a run.
type draws struct {
	key    *keyDraw
	params []*keyDraw
}

// newDraws returns the drawers of every template, sharing rng.
func (r *runner) newDraws(rng *rand.Rand) []draws {
	out := make([]draws, len(r.plan.tmplList))
	for i, t := range r.plan.tmplList {
		if t.key != nil {
			g := t.key
			if pool := r.pools[i]; pool != nil {
				g = g.withPopulation(int64(len(pool.keys)))
			}
			out[i].key = newKeyDraw(g, rng)
		}
		for _, pg := range t.params {
			out[i].params = append(out[i].params, newKeyDraw(pg, rng))
		}
	}
	return out
}

// dispatch walks the schedule and hands every arrival to the worker pool
// at its scheduled time, never waiting for answers. An arrival that finds
// the in-flight cap reached is counted as dropped. It returns at the end
// of the schedule or when the run's context is done.
func (r *runner) dispatch() {
	p := r.plan
	nsec := int((p.sched.total + time.Second - 1) / time.Second)
	d := &r.disp
	d.offered, d.sent, d.dropped = grid(nsec, len(p.classes)), grid(nsec, len(p.classes)), grid(nsec, len(p.classes))
	rng := rand.New(rand.NewPCG(uint64(r.scen.Seed), 0x5eed))
	dr := r.newDraws(rng)
	done := r.ctx.Done()
	cur := cursor{s: &p.sched}
	for seq := uint64(0); ; seq++ {
		off, ok := cur.next()
		if !ok || !r.waitUntil(off, done) {
			return
		}
		lag := time.Since(r.start) - off
		t := p.templates.pick(rng)
		j := job{sched: off, tmpl: t.index, seq: seq}
		j.b = pickClient(t, p, rng)
		if dk := dr[j.tmpl].key; dk != nil {
			j.key = dk.draw()
		}
		for i, pd := range dr[j.tmpl].params {
			j.params[i] = pd.draw()
		}
		r.send(j, t.class, lag)
	}
}

// pickClient draws the behaviour of a logical request of t.
func pickClient(t *template, p *plan, rng *rand.Rand) *behaviour {
	if t.clients != nil {
		return t.clients.pick(rng)
	}
	return p.clients.pick(rng)
}

// waitUntil sleeps until off into the run; false when done closed first.
func (r *runner) waitUntil(off time.Duration, done <-chan struct{}) bool {
	wait := off - time.Since(r.start)
	if wait <= 0 {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	if wait < 50*time.Millisecond {
		time.Sleep(wait)
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}

// send submits j (of class, lag behind its schedule) and counts it.
func (r *runner) send(j job, class int, lag time.Duration) {
	d := &r.disp
	sec := min(int(j.sched/time.Second), len(d.offered)-1)
	d.offered[sec][class]++
	r.pool.outstanding.Add(1)
	if !r.pool.submit(j) {
		r.pool.outstanding.Done()
		d.dropped[sec][class]++
		r.live.dropped.Add(1)
		return
	}
	d.sent[sec][class]++
	d.lastSend = time.Since(r.start)
	recordLatency(d.lag, max(lag, 0))
	if lag > LateThreshold {
		r.live.late.Add(1)
	}
	if int64(lag) > r.live.maxLag.Load() {
		r.live.maxLag.Store(int64(lag))
	}
	r.live.sent.Add(1)
}

// grid returns an n×m matrix of zeros.
func grid(n, m int) [][]int64 {
	cells := make([]int64, n*m)
	g := make([][]int64, n)
	for i := range g {
		g[i] = cells[i*m : (i+1)*m]
	}
	return g
}
