package loadtest

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// worker is one worker goroutine's reusable state. It is owned by its
// goroutine.
type worker struct {
	r     *runner
	id    int
	req   *fasthttp.Request
	resp  *fasthttp.Response
	v     values
	buf   []byte // path, then header values
	body  []byte
	reqID []byte
}

// newWorker returns the job function of worker id.
func (r *runner) newWorker(id int) func(job) {
	w := &worker{r: r, id: id, req: &fasthttp.Request{}, resp: &fasthttp.Response{}}
	w.v.run = r.runID
	w.v.params = make([][]byte, maxParams)
	return w.do
}

// do runs tries of a logical request, from try j.try on, until its
// behaviour stops retrying (then it records the outcome) or asks for a
// pause (then a timer submits the next try, and the worker is free
// meanwhile).
func (w *worker) do(j job) {
	r := w.r
	t := r.plan.tmplList[j.tmpl]
	w.values(j, t)
	for {
		w.build(t) // again for every try: a pipelining client takes the body
		w.resp.Reset()
		sent := time.Now()
		err := r.hc.DoTimeout(w.req, w.resp, t.timeout)
		j.tryUs[j.try] = int32(min(time.Since(sent).Microseconds(), histMaxUs))
		var st int
		j.last, st = classify(w.resp, err, t.okStatus)
		j.statuses[j.try] = int16(st)
		pause, again := j.b.retry(j.last, int(j.try), w.resp.Header.Peek(fasthttp.HeaderRetryAfter))
		if !again || r.ctx.Err() != nil {
			break
		}
		j.try++
		if pause > 0 {
			r.retryAfter(j, pause)
			return
		}
	}
	r.finish(w.id, j)
}

// retryAfter submits j's next try after d. A try that finds the in-flight
// cap reached, or a run cancelled meanwhile, ends the logical request with
// its last outcome; the first is counted as a dropped retry.
func (r *runner) retryAfter(j job, d time.Duration) {
	time.AfterFunc(d, func() {
		if r.ctx.Err() == nil && r.pool.submit(j) {
			return
		}
		if r.ctx.Err() == nil {
			r.live.droppedRetries.Add(1)
		}
		j.try--
		r.finish(int(j.seq), j)
	})
}

// finish records a logical request's outcome, its tries and its latency
// from the scheduled time, in the recording shard of id.
func (r *runner) finish(id int, j job) {
	lat := time.Since(r.start) - j.sched
	t := r.plan.tmplList[j.tmpl]
	r.rec.record(id, t.class, int(j.sched/time.Second), j.last, lat, j.statuses[:j.try+1], j.tryUs[:j.try+1])
	if r.reqLog != nil {
		r.reqLog.write(&j, r.plan.classes[t.class], lat)
	}
	r.live.done[j.last].Add(1)
	r.pool.outstanding.Done()
}

// values renders j's placeholder values into w.v and its request ID.
func (w *worker) values(j job, t *template) {
	r := w.r
	v := &w.v
	v.seq = j.seq
	v.key, v.code = v.key[:0], ""
	if pool := r.pools[j.tmpl]; pool != nil {
		v.key = append(v.key, pool.keys[j.key]...)
		v.code = pool.codes[j.key]
	} else if t.key != nil {
		v.key = t.key.appendKey(v.key, j.key, r.today)
	}
	for i, g := range t.params {
		v.params[i] = g.appendKey(v.params[i][:0], j.params[i], r.today)
	}
	w.reqID = strconv.AppendUint(append(append(w.reqID[:0], r.runID...), '-'), j.seq, 10)
}

// build renders the request of t with w.v into w.req.
func (w *worker) build(t *template) {
	v := &w.v
	req := w.req
	req.Reset()
	req.Header.SetMethod(t.method)
	w.buf = t.path.appendTo(w.buf[:0], v)
	req.SetRequestURIBytes(w.buf)
	req.Header.SetHost(w.r.tgt.host)
	req.Header.SetBytesV("X-Request-Id", w.reqID)
	for _, h := range t.headers {
		w.buf = h.value.appendTo(w.buf[:0], v)
		req.Header.SetBytesV(h.name, w.buf)
	}
	if len(t.body) > 0 {
		w.body = t.body.appendTo(w.body[:0], v)
		req.SetBody(w.body) // a copy: a pipelined try that timed out may still hold the last one
		if !t.hasContentType {
			req.Header.SetContentType("application/json")
		}
	}
}
