package issuer

import (
	"encoding/json"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Handler serves the main API (see the package doc and DESIGN.md). Every
// request waits in the capacity model's queue for a worker and its service
// time, then the faults apply, then it is answered; the handler goroutine
// blocks meanwhile and is never cancelled, like the real backend's. A
// request dropped by the hang fault or by Close gets no answer: its
// connection is closed. Handler is safe for concurrent use.
func (s *Issuer) Handler(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	r := matchRoute(ctx.Method(), ctx.Path())
	s.stats.begin(r.op)
	defer s.stats.inFlight.Add(-1)
	dup := r.op.mutates() && s.seenRequestID(ctx)
	if !s.await() {
		dropAnswer(ctx)
		return
	}
	if s.faults.injectError() {
		s.stats.errorsInjected.Add(1)
		writeError(ctx, s.Faults().errorStatus(), "injected")
	} else if !s.answerOnce(ctx, r, dup) {
		return
	}
	s.stats.answered(time.Since(start))
}

// answerOnce answers a served request: a state-changing one that carries an
// Idempotency-Key seen before gets the key's first answer and changes
// nothing. It reports false when the drop fault took the answer away
// after the request was applied.
func (s *Issuer) answerOnce(ctx *fasthttp.RequestCtx, r route, dup bool) bool {
	key := ctx.Request.Header.Peek("Idempotency-Key")
	if !r.op.mutates() || len(key) == 0 {
		s.answer(ctx, r, dup)
		return s.keepAnswer(ctx, r)
	}
	kept, first := s.idem.begin(key)
	if !first {
		s.stats.idemReplays.Add(1)
		kept.replay(ctx)
		return s.keepAnswer(ctx, r)
	}
	s.answer(ctx, r, dup)
	if kept != nil {
		kept.keep(&ctx.Response)
	}
	return s.keepAnswer(ctx, r)
}

// keepAnswer applies the drop fault to a state-changing request's answer:
// false when it is dropped (the connection closes without it).
func (s *Issuer) keepAnswer(ctx *fasthttp.RequestCtx, r route) bool {
	if !r.op.mutates() || !s.faults.injectDrop() {
		return true
	}
	s.stats.answersDropped.Add(1)
	dropAnswer(ctx)
	return false
}

// seenRequestID reports whether the request's X-Request-Id was seen before
// on a non-idempotent request, counting it as a duplicate if so.
func (s *Issuer) seenRequestID(ctx *fasthttp.RequestCtx) bool {
	id := ctx.Request.Header.Peek("X-Request-Id")
	if len(id) == 0 || !s.stats.requestIDs.add(id) {
		return false
	}
	s.stats.duplicates.Add(1)
	return true
}

// await holds the request through the hang fault, the queue and its
// service. It returns false when the request must get no answer.
func (s *Issuer) await() bool {
	if s.holdWhileHung() {
		return false
	}
	j := &job{done: make(chan struct{})}
	if !s.pool.submit(j) {
		return false
	}
	select {
	case <-j.done:
	case <-s.srv.closed:
		return false
	}
	return !s.holdWhileHung()
}

// holdWhileHung blocks while the hang fault is set (or until Close) and
// reports whether it did.
func (s *Issuer) holdWhileHung() bool {
	g := s.faults.hang.Load()
	if g == nil {
		return false
	}
	s.stats.hung.Add(1)
	defer s.stats.hung.Add(-1)
	select {
	case <-g.cleared:
	case <-s.srv.closed:
	}
	return true
}

// dropAnswer makes the server close the connection without an answer.
func dropAnswer(ctx *fasthttp.RequestCtx) {
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(net.Conn) {})
}

// answer computes and writes the answer of a served request.
func (s *Issuer) answer(ctx *fasthttp.RequestCtx, r route, dup bool) {
	now := s.now()
	switch r.op {
	case opCode:
		s.answerCode(ctx, r.id, now)
	case opReissue:
		s.answerReissue(ctx, r.id, now)
	case opRelative:
		s.answerRelative(ctx, r.id, r.rid, now)
	case opScan:
		s.answerScan(ctx, dup, now)
	case opKeys:
		s.answerKeys(ctx)
	case opHealth:
		s.answerHealth(ctx, r.id, now)
	case opCheckin:
		s.answerCheckin(ctx, r.venue, now)
	default:
		if r.status == fasthttp.StatusMethodNotAllowed {
			ctx.Response.Header.Set(fasthttp.HeaderAllow, r.allow)
			writeError(ctx, r.status, "method not allowed")
			return
		}
		writeError(ctx, fasthttp.StatusNotFound, "not found")
	}
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

// writeError answers status with {"error": msg}.
func writeError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	writeJSON(ctx, status, errorBody{Error: msg})
}

// writeJSON answers status with v as JSON.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("BUG: marshal answer: " + err.Error())
	}
	writeJSONBytes(ctx, status, b)
}

// writeJSONBytes answers status with the JSON body b, which it keeps.
func writeJSONBytes(ctx *fasthttp.RequestCtx, status int, b []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// setMaxAge sets Cache-Control: max-age=seconds.
func setMaxAge(ctx *fasthttp.RequestCtx, seconds int64) {
	b := append(make([]byte, 0, 24), "max-age="...)
	ctx.Response.Header.SetBytesV(fasthttp.HeaderCacheControl, strconv.AppendInt(b, max(seconds, 0), 10))
}
