package gateway

import (
	"bytes"
	"errors"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"shedgate/cache"
	"shedgate/limiter"
)

// scratch is per-request working memory, pooled so that the request path
// allocates nothing once warm. It must not be used after release.
type scratch struct {
	match match
	key   []byte // the route's key: "{id}" filled in, each parameter length-prefixed
	ckey  []byte // cache key: route name, 0, key
	// variant is what the answer depends on beyond the key: Host and
	// query string, as the route says (see route.appendVariant).
	variant []byte
	cbuf    []byte      // holds the cached entry's bytes
	entry   cache.Entry // decoded from cbuf
	lookup  cache.Lookup
	// rejected: the gateway turned the request away (shed or over its
	// key's rate), whatever it answered.
	rejected bool
	up       upstreamInfo // for the access log
	buf      []byte
	names    headerNames
	req      fasthttp.Request
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func acquireScratch() *scratch { return scratchPool.Get().(*scratch) }

func releaseScratch(sc *scratch) {
	sc.match = match{}
	sc.entry = cache.Entry{}
	sc.lookup = cache.Miss
	sc.rejected = false
	sc.up = upstreamInfo{}
	sc.variant = sc.variant[:0]
	sc.req.Reset()
	scratchPool.Put(sc)
}

// handle is the request path, top to bottom:
//
//	edge     refuse what no upstream may see: TRACE, CONNECT, no Host,
//	         another scheme (405/400/421); drop forwarding headers that
//	         an untrusted peer sent
//	route    match method + path, validate its parameters (400), extract
//	         the key; a request with credentials on a non-public route
//	         is private: no cache, no coalescing
//	cache    a fresh entry of the same variant (Host, query, the values of
//	         its Vary fields) answers at once (X-Cache: HIT); hits are
//	         never limited; in a fleet, only an entry that cannot have
//	         missed another gateway's invalidation (else it is stale)
//	per-key  a key over its rate: 429 + Retry-After (or a stale copy)
//	fetch    coalesced per route+key when the route says so, else alone:
//	         in a fleet, the shared cache first (X-Cache: HIT-SHARED);
//	         admission in the class queue under the adaptive limit (in a
//	         fleet, after a wait for it, the shared cache again), then the
//	         upstream; the answer is stored when cacheable (and shared)
//	shed     no slot in time: 503 + Retry-After (or a stale copy)
//	fallback upstream failed: a stale entry (X-Cache: STALE) or 502/503/504
//	invalidate the keys a 2xx on this route makes obsolete, before answering
//	         (in a fleet, on every gateway)
//	account  metrics by route, class and status; sampled access log
func (g *Gateway) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	st := g.state.Load()
	sc := acquireScratch()
	defer releaseScratch(sc)
	defer g.recoverPanic(ctx)

	flags := scanHeaders(&ctx.Request.Header)
	// forwarded: the request may carry forwarding headers a trusted proxy
	// set (X-Forwarded-*, X-Request-Id); false spares the lookups.
	forwarded := flags&flagRawKnown == 0 || flags&flagForwarding != 0
	if !st.trustedPeer(ctx) {
		dropForwarding(&ctx.Request.Header, flags)
		forwarded = false
	}
	if refuseUnforwardable(ctx) {
		g.finish(ctx, nil, sc, st, start)
		return
	}
	if !st.router.lookup(ctx.Method(), ctx.Path(), &sc.match) {
		writeJSONError(ctx, fasthttp.StatusNotFound, bodyNoRoute)
		g.finish(ctx, nil, sc, st, start)
		return
	}
	rt := sc.match.route
	if body := sc.match.invalidParam(); body != nil {
		writeJSONError(ctx, fasthttp.StatusBadRequest, body)
		g.finish(ctx, rt, sc, st, start)
		return
	}
	sc.key = sc.match.appendKey(sc.key[:0])
	sc.ckey = rt.appendCacheKey(sc.ckey[:0], sc.key)
	// A request with credentials on a route not marked public neither
	// uses nor feeds what other requests share.
	private := !rt.public && hasCredentials(&ctx.Request.Header, flags)
	if rt.shared() && !private {
		sc.variant = rt.appendVariant(sc.variant[:0], ctx, forwarded)
	}

	if rt.policy != nil && !private {
		sc.cbuf, sc.lookup = g.cache.Get(sc.cbuf, sc.ckey, sc.variant, start, &sc.entry)
		if sc.lookup != cache.Miss && len(sc.entry.Vary) > 0 && !varyMatches(sc.entry.Vary, &ctx.Request.Header) {
			g.cache.Unhit(sc.lookup) // stored for other values of its Vary fields
			sc.lookup = cache.Miss
		}
		if sc.lookup == cache.Fresh && g.fleet != nil && !g.fleet.trusts(&sc.entry, start) {
			sc.lookup = cache.Stale // a fleet's invalidation of it may have been missed
		}
		if sc.lookup == cache.Fresh {
			writeEntry(ctx, &sc.entry, xCacheHit, start, sc)
			g.finishHit(ctx, rt, sc, st, start, forwarded)
			return
		}
	}

	if rt.perKey != nil {
		if ok, wait := rt.perKey.Allow(xxhash.Sum64(sc.ckey)); !ok {
			g.reject(ctx, rt, sc, fasthttp.StatusTooManyRequests, secondsCeil(wait))
			g.finish(ctx, rt, sc, st, start)
			return
		}
	}

	deadline := start.Add(rt.attemptTimeout())
	user := userHash(sc.key)
	if rt.policy != nil && len(sc.key) > 0 {
		user = g.demand.User(user) // a cached key: ranked by how often it is asked for
	}
	var err error
	if rt.shared() && !private {
		err = g.fetchShared(ctx, rt, sc, user, deadline)
	} else {
		err = g.forward(ctx, rt, sc, user, deadline)
	}
	failed := err != nil || ctx.Response.StatusCode() >= 500
	switch {
	case errors.Is(err, errShed):
		g.reject(ctx, rt, sc, fasthttp.StatusServiceUnavailable, g.limiter.RetryAfter(rt.classIdx))
	case failed && sc.lookup == cache.Stale:
		g.serveStale(ctx, sc)
	case err != nil:
		g.writeFetchError(ctx, rt, err)
	case len(rt.invalidates) > 0 && ctx.Response.StatusCode()/100 == 2:
		g.invalidate(rt, sc)
	}
	g.finish(ctx, rt, sc, st, start)
}

// serveStale answers from the stale entry the cache lookup found, if it
// found one, and reports whether it did.
func (g *Gateway) serveStale(ctx *fasthttp.RequestCtx, sc *scratch) bool {
	if sc.lookup != cache.Stale {
		return false
	}
	g.cache.CountStaleServed()
	writeEntry(ctx, &sc.entry, xCacheStale, time.Now(), sc)
	return true
}

// fetchShared answers through an entry that other requests may share: a
// coalesced flight when the route coalesces, a call of its own otherwise.
// Flights are keyed by the cache key alone, so that an invalidation's
// Forget reaches every variant's flight; a flight's answer that turns out
// private (see privateAnswer), or is for another variant (Host, query),
// or for other values of the fields its Vary names, goes to the request
// that started the flight only, and each such waiter then fetches its
// own. The answer is written with X-Cache: MISS.
func (g *Gateway) fetchShared(ctx *fasthttp.RequestCtx, rt *route, sc *scratch, user uint64, deadline time.Time) error {
	var a answer
	var err error
	var shared bool
	if rt.coalesce {
		a, err, shared = g.flights.Do(sc.ckey, deadline, func() func() (answer, error) {
			return g.prepareFetch(ctx, rt, sc, user, deadline)
		})
		switch {
		case shared && err == nil && (a.private || !bytes.Equal(a.entry.Variant, sc.variant) ||
			len(a.entry.Vary) > 0 && !varyMatches(a.entry.Vary, &ctx.Request.Header)):
			g.privateRefetches.Add(1)
			a, err = g.prepareFetch(ctx, rt, sc, user, deadline)()
			shared = false
		case shared:
			g.coalesced.Add(1)
		}
	} else {
		a, err = g.prepareFetch(ctx, rt, sc, user, deadline)()
	}
	if err != nil {
		return err
	}
	sc.up = a.up
	if shared {
		sc.up.leaderTrace = a.trace
	}
	state := xCacheMiss
	if a.fleet {
		state = xCacheShared
	}
	writeEntry(ctx, a.entry, state, time.Now(), sc)
	return nil
}

// answer is a fetch's result: the entry, whether it may go only to the
// request that produced it (it then keeps its Set-Cookie), whether it
// came from the fleet's shared cache rather than the upstream, and, for
// the access log, the way it came and the trace id of the request that
// fetched it.
type answer struct {
	entry   *cache.Entry
	private bool
	fleet   bool
	up      upstreamInfo
	trace   []byte
}

// prepareFetch copies what a fetch needs out of ctx (which fasthttp
// recycles when the handler returns) and returns the fetch, which runs
// under the first caller's deadline. On a cached route of a fleet it
// first asks the shared cache, before admission: an answer another
// gateway fetched costs no backend slot. The fetch stores a cacheable
// answer (locally, and in the shared cache) unless an invalidation of its
// key happened while it ran.
func (g *Gateway) prepareFetch(ctx *fasthttp.RequestCtx, rt *route, sc *scratch, user uint64, deadline time.Time) func() (answer, error) {
	req := fasthttp.AcquireRequest()
	g.prepareRequest(ctx, req, sc)
	ckey := append([]byte(nil), sc.ckey...)
	variant := append([]byte(nil), sc.variant...)
	var key []byte // for the fleet's demand rank
	if g.fleet != nil {
		key = append(key, sc.key...)
	}
	gen := g.gens.load(ckey)
	trace := append([]byte(nil), traceID(&ctx.Request.Header)...)
	return func() (answer, error) {
		defer fasthttp.ReleaseRequest(req)
		var fill sharedFill
		if g.fleet != nil && rt.policy != nil {
			e, f, demand := g.sharedLookup(ckey, variant, gen, true)
			if e != nil {
				return answer{entry: e, fleet: true, trace: trace}, nil
			}
			fill = f
			if demand > 0 && len(key) > 0 {
				user = g.demand.UserWith(userHash(key), demand) // ranked by the fleet's demand
			}
		}
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		var asked time.Time // for the second look; no clock read without a fleet
		if fill.ok {
			asked = time.Now()
		}
		var up upstreamInfo
		tok, err := g.admit(rt, user, deadline)
		if err != nil {
			return answer{}, err
		}
		if fill.ok && time.Since(asked) >= recheckAfter {
			// Queued for a slot: another gateway may have fetched the key
			// meanwhile (coalescing is per gateway). Look again, uncounted,
			// before spending the slot on the backend.
			if e, _, _ := g.sharedLookup(ckey, variant, gen, false); e != nil {
				tok.Release(0, limiter.OutcomeIgnore)
				g.fleet.rechecks.Add(1)
				return answer{entry: e, fleet: true, trace: trace}, nil
			}
		}
		if err := g.doAdmitted(tok, rt, req, resp, deadline, &up); err != nil {
			return answer{}, err
		}
		var names headerNames
		stripHops(&resp.Header, &names)
		now := time.Now()
		cc := joinHeader(nil, &resp.Header, headerCacheControl)
		why := privateAnswer(&resp.Header, cc)
		var vary []byte
		if v := joinHeader(nil, &resp.Header, headerVary); why == unsharedNone && len(v) > 0 {
			var ok bool
			if vary, ok = appendVary(nil, v, &req.Header); !ok {
				why = unsharedVary
			}
		}
		private := why != unsharedNone
		e := entryFromResponse(resp, now, private)
		e.Variant, e.Vary = variant, vary
		if rt.policy != nil && e.Status == fasthttp.StatusOK {
			if private {
				g.notStored[why].Add(1)
			} else {
				g.store(rt, ckey, gen, fill, e, cc, resp.Header.Peek("Expires"), now)
			}
		}
		return answer{entry: e, private: private, up: up, trace: trace}, nil
	}
}

// sharedFill says whether a fetch's answer goes to the fleet's shared
// cache (ok: its lookup reached Redis), and the generation it saw there.
type sharedFill struct {
	gen string
	ok  bool
}

// store caches e under ckey when the route's policy and the answer's
// Cache-Control (cc: every line joined) allow it and no invalidation
// intervened, here or (for a fleet) in another gateway.
func (g *Gateway) store(rt *route, ckey []byte, gen uint64, fill sharedFill, e *cache.Entry, cc, expires []byte, now time.Time) {
	fresh, stale, ok := rt.policy.Lifetime(now, cc, expires)
	if !ok {
		g.notStored[unsharedNoLifetime].Add(1)
		return
	}
	if g.gens.load(ckey) != gen {
		return
	}
	e.FreshUntil, e.StaleUntil = fresh.UnixNano(), stale.UnixNano()
	if fill.ok && !g.sharedFill(ckey, e, fill.gen, now) {
		return
	}
	g.cache.Set(nil, ckey, e)
}

// forward sends a copy of the client's request to rt's upstream, once
// admitted, and writes the answer, hop-by-hop headers stripped, into
// ctx.Response.
func (g *Gateway) forward(ctx *fasthttp.RequestCtx, rt *route, sc *scratch, user uint64, deadline time.Time) error {
	tok, err := g.admit(rt, user, deadline)
	if err != nil {
		return err
	}
	req := &sc.req
	g.prepareRequest(ctx, req, sc)
	if err := g.doAdmitted(tok, rt, req, &ctx.Response, deadline, &sc.up); err != nil {
		return err
	}
	stripHops(&ctx.Response.Header, &sc.names)
	return nil
}

// prepareRequest fills req with a copy of the client's request, hop-by-hop
// headers stripped, X-Forwarded-For appended and X-Request-Id set.
func (g *Gateway) prepareRequest(ctx *fasthttp.RequestCtx, req *fasthttp.Request, sc *scratch) {
	ctx.Request.CopyTo(req)
	if sc.match.route != nil && sc.match.route.dropQuery {
		req.URI().SetQueryStringBytes(nil)
	}
	stripHops(&req.Header, &sc.names)
	sc.buf = appendForwardedFor(sc.buf[:0], ctx.Request.Header.Peek(headerForwardedFor), ctx.RemoteAddr())
	req.Header.SetBytesV(headerForwardedFor, sc.buf)
	req.Header.SetBytesV(headerRequestID, g.requestID(ctx, sc))
}

// requestID returns the request's X-Request-Id when it is well formed
// (only a trusted proxy's reaches here: dropForwarding removed any other),
// or else a new one that it also records on the client's request so that
// every later step sees the same.
func (g *Gateway) requestID(ctx *fasthttp.RequestCtx, sc *scratch) []byte {
	if id := ctx.Request.Header.Peek(headerRequestID); len(id) > 0 && validRequestID(id) {
		return id
	}
	sc.buf = g.ids.append(sc.buf[:0])
	ctx.Request.Header.SetBytesV(headerRequestID, sc.buf)
	return ctx.Request.Header.Peek(headerRequestID)
}

// invalidate drops the entries of the routes rt names for the same key,
// and makes fetches of them already in flight neither store nor share
// their now obsolete answer with later requests; in a fleet, on every
// gateway, before the answer leaves (within cache.shared.timeout).
func (g *Gateway) invalidate(rt *route, sc *scratch) {
	for _, prefix := range rt.invalidates {
		sc.buf = append(append(sc.buf[:0], prefix...), sc.key...)
		g.invalidateLocal(sc.buf)
		if g.fleet != nil {
			g.fleet.store.Invalidate(sc.buf) //nolint:errcheck // kept and sent when Redis answers; counted
		}
	}
}

// finish sets X-Request-Id on the answer and accounts for it.
func (g *Gateway) finish(ctx *fasthttp.RequestCtx, rt *route, sc *scratch, st *state, start time.Time) {
	g.closeAfterAnswer(ctx)
	ctx.Response.Header.SetBytesV(headerRequestID, g.requestID(ctx, sc))
	elapsed := time.Since(start)
	status := ctx.Response.StatusCode()
	m := g.metrics.unmatched
	if rt != nil {
		m = rt.metrics
	}
	m.count(status)
	m.duration.Update(elapsed.Seconds())
	g.outcomes.count(status)
	if sc.rejected {
		g.metrics.rejections.Update(elapsed.Seconds())
	}
	if g.accessSampled(start, st) {
		g.logAccess(ctx, rt, sc, elapsed)
	}
}

// finishHit accounts for a cache hit, reading no clock: the request's one
// reading, start, decided its freshness and its Age. A hit is counted by
// route and status but not timed (gateway_request_duration_seconds times
// the requests that did more than a lookup); it carries the X-Request-Id a
// trusted proxy sent, and a new one only when server.hit_request_ids says
// so: no upstream sees a hit, and the access log has its route and hash.
func (g *Gateway) finishHit(ctx *fasthttp.RequestCtx, rt *route, sc *scratch, st *state, start time.Time, forwarded bool) {
	if st.cfg.Server.HitRequestIDs || forwarded && len(ctx.Request.Header.Peek(headerRequestID)) > 0 {
		ctx.Response.Header.SetBytesV(headerRequestID, g.requestID(ctx, sc))
	}
	g.closeAfterAnswer(ctx)
	status := ctx.Response.StatusCode()
	rt.metrics.count(status)
	g.outcomes.count(status)
	if g.accessSampled(start, st) {
		g.logAccess(ctx, rt, sc, time.Since(start))
	}
}

// closeAfterAnswer closes the connection after this answer while a drain
// has begun, so that clients move away before the listener closes, and
// closes a share of connections while this gateway holds more than the
// fleet's mean (rebalanceShare): the connections whose id falls in the
// share. It runs once the answer is built: an upstream's answer read into
// the response replaces the header (TestDrainAnswersWhatItRead).
func (g *Gateway) closeAfterAnswer(ctx *fasthttp.RequestCtx) {
	if g.draining.Load() {
		ctx.SetConnectionClose()
		return
	}
	if share := g.conns.closeShare.Load(); share > 0 && int64(ctx.ConnID()*2654435761%1000) < share {
		ctx.SetConnectionClose()
		g.conns.rebalanced.Add(1)
	}
}

// recoverPanic turns a panic on the request path into a 500 JSON answer
// and a log entry, instead of taking the process down.
func (g *Gateway) recoverPanic(ctx *fasthttp.RequestCtx) {
	if p := recover(); p != nil {
		g.log.Error("panic on request path", zap.Any("panic", p), zap.Stack("stack"))
		writeJSONError(ctx, fasthttp.StatusInternalServerError, bodyInternal)
	}
}
