package gateway

import (
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// sampler keeps the first perSecond events of each second and then 1 in
// every oneIn, lock-free; a second is whatever the caller's clock reading
// says.
type sampler struct {
	sec atomic.Int64
	n   atomic.Uint64
}

func (s *sampler) allow(sec int64, perSecond, oneIn int) bool {
	if s.sec.Load() != sec {
		s.sec.Store(sec) // racing resets both start the second over
		s.n.Store(0)
	}
	n := s.n.Add(1)
	return n <= uint64(perSecond) || oneIn > 0 && n%uint64(oneIn) == 0
}

// accessSampled reports whether the request that started at start goes
// to the access log, as server.access_log says, so that a surge cannot
// become a log flood. It reads no clock.
func (g *Gateway) accessSampled(start time.Time, st *state) bool {
	if g.access == nil {
		return false
	}
	al := &st.cfg.Server.AccessLog
	return g.accessSample.allow(start.Unix(), al.PerSecond, al.OneIn)
}

// logAccess writes the access log entry of a sampled request: what an
// operator greps for (client, route, class, status, cache state, the
// upstream target, queue (from arrival to the admission slot) and the
// round trip, bytes, the
// request and trace ids; a coalesced waiter's own trace id with its
// leader's). Identity keys appear only as a keyed hash.
func (g *Gateway) logAccess(ctx *fasthttp.RequestCtx, rt *route, sc *scratch, elapsed time.Duration) {
	ce := g.access.Check(zap.InfoLevel, "access")
	if ce == nil {
		return
	}
	name, class := "", ""
	if rt != nil {
		name, class = rt.name, rt.class
	}
	target := zap.Skip()
	if sc.up.target != nil {
		target = zap.Stringer("upstream", sc.up.target)
	}
	ce.Write(
		zap.Stringer("client", ctx.RemoteIP()),
		zap.String("route", name),
		zap.String("class", class),
		zap.ByteString("method", ctx.Method()),
		zap.Int("status", ctx.Response.StatusCode()),
		zap.Duration("duration", elapsed),
		zap.ByteString("x_cache", ctx.Response.Header.Peek(headerXCache)),
		zap.String("key_hash", g.keyHash.hash(sc.key)),
		target,
		zap.Duration("queue", sc.up.queue),
		zap.Duration("upstream_time", sc.up.rtt),
		zap.Int("bytes_in", len(ctx.Request.Body())),
		zap.Int("bytes_out", len(ctx.Response.Body())),
		requestIDField(ctx.Response.Header.Peek(headerRequestID)),
		idField("trace_id", traceID(&ctx.Request.Header)),
		idField("leader_trace_id", sc.up.leaderTrace),
	)
}

// requestIDField is the access log's request_id, left out when the answer
// has none (a cache hit without hit_request_ids).
func requestIDField(id []byte) zap.Field { return idField("request_id", id) }

func idField(name string, id []byte) zap.Field {
	if len(id) == 0 {
		return zap.Skip()
	}
	return zap.ByteString(name, id)
}

// traceID returns the trace id of a well-formed W3C traceparent header
// ("00-<32 hex>-<16 hex>-<2 hex>"), a sub-slice of h's value, or nil.
// The header itself goes to the backend with the request, as any other.
func traceID(h *fasthttp.RequestHeader) []byte {
	v := h.Peek("traceparent")
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return nil
	}
	id := v[3:35]
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil
		}
	}
	if string(id) == "00000000000000000000000000000000" {
		return nil
	}
	return id
}
