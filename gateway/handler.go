package gateway

import (
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// scratch is per-request working memory, pooled so that the request path
// allocates nothing once warm. It must not be used after release.
type scratch struct {
	match match
	key   []byte
	buf   []byte
	names headerNames
	req   fasthttp.Request
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func acquireScratch() *scratch { return scratchPool.Get().(*scratch) }

func releaseScratch(sc *scratch) {
	sc.match = match{}
	sc.req.Reset()
	scratchPool.Put(sc)
}

// handle is the request path, top to bottom:
//
//	route    match method + path, extract the key
//	forward  to the route's upstream (timeout per attempt, no retry)
//	answer   hop-by-hop headers stripped, X-Request-Id echoed
//	account  metrics by route, class and status; sampled access log
func (g *Gateway) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	st := g.state.Load()
	sc := acquireScratch()
	defer releaseScratch(sc)
	defer g.recoverPanic(ctx)

	if !st.router.lookup(ctx.Method(), ctx.Path(), &sc.match) {
		writeJSONError(ctx, fasthttp.StatusNotFound, bodyNoRoute)
		g.account(ctx, nil, sc, start)
		return
	}
	rt := sc.match.route
	sc.key = sc.match.appendKey(sc.key[:0])

	g.forward(ctx, rt, sc)
	g.account(ctx, rt, sc, start)
}

// forward sends a copy of the client's request to rt's upstream and writes
// the answer, or a 502/504 JSON error, into ctx.Response.
func (g *Gateway) forward(ctx *fasthttp.RequestCtx, rt *route, sc *scratch) {
	req := &sc.req
	ctx.Request.CopyTo(req)
	stripHops(&req.Header, &sc.names)

	sc.buf = appendForwardedFor(sc.buf[:0], ctx.Request.Header.Peek(headerForwardedFor), ctx.RemoteAddr())
	req.Header.SetBytesV(headerForwardedFor, sc.buf)
	id := ctx.Request.Header.Peek(headerRequestID)
	if len(id) == 0 {
		sc.buf = g.ids.append(sc.buf[:0])
		id = sc.buf
	}
	req.Header.SetBytesV(headerRequestID, id)

	var deadline time.Time
	if rt.timeout > 0 {
		deadline = time.Now().Add(rt.timeout)
	}
	if err := rt.pool.Do(req, &ctx.Response, deadline); err != nil {
		writeUpstreamError(ctx, err)
	} else {
		stripHops(&ctx.Response.Header, &sc.names)
	}
	ctx.Response.Header.SetBytesV(headerRequestID, req.Header.Peek(headerRequestID))
}

// account records the answer in metrics and, when sampled, the access log.
// Identity keys appear only as a keyed hash.
func (g *Gateway) account(ctx *fasthttp.RequestCtx, rt *route, sc *scratch, start time.Time) {
	elapsed := time.Since(start)
	status := ctx.Response.StatusCode()
	m := g.metrics.unmatched
	if rt != nil {
		m = rt.metrics
	}
	m.observe(status, elapsed)
	if g.access == nil {
		return
	}
	ce := g.access.Check(zap.InfoLevel, "access")
	if ce == nil {
		return
	}
	name := ""
	if rt != nil {
		name = rt.name
	}
	ce.Write(
		zap.String("route", name),
		zap.ByteString("method", ctx.Method()),
		zap.Int("status", status),
		zap.Duration("duration", elapsed),
		zap.String("key_hash", g.keyHash.hash(sc.key)),
		zap.ByteString("request_id", ctx.Response.Header.Peek(headerRequestID)),
	)
}

// recoverPanic turns a panic on the request path into a 500 JSON answer
// and a log entry, instead of taking the process down.
func (g *Gateway) recoverPanic(ctx *fasthttp.RequestCtx) {
	if p := recover(); p != nil {
		g.log.Error("panic on request path", zap.Any("panic", p), zap.Stack("stack"))
		writeJSONError(ctx, fasthttp.StatusInternalServerError, bodyInternal)
	}
}
