package gateway

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"shedgate/cache"
)

const (
	headerXCache = "X-Cache"
	headerAge    = "Age"
)

// skipInEntry are headers not kept in a shared or cached answer: fasthttp
// sets the framing ones itself, the gateway sets X-Request-Id and Age per
// answer, and a Set-Cookie must never reach another client.
var skipInEntry = map[string]bool{
	"Content-Length": true, "Date": true, "Set-Cookie": true,
	headerRequestID: true, headerAge: true, "Connection": true, "Transfer-Encoding": true,
}

// entryFromResponse copies an upstream answer (hop-by-hop headers already
// stripped) into a new entry that the caller owns, stamped at now. A
// private entry, for its own requester only, keeps its Set-Cookie.
func entryFromResponse(resp *fasthttp.Response, now time.Time, private bool) *cache.Entry {
	e := &cache.Entry{Status: resp.StatusCode(), StoredAt: now.UnixNano(), LocalAt: now.UnixNano()}
	for k, v := range resp.Header.All() {
		if !skipInEntry[string(k)] || private && string(k) == "Set-Cookie" {
			e.AppendHeader(k, v)
		}
	}
	e.Body = append([]byte(nil), resp.Body()...)
	return e
}

// writeEntry answers from e with X-Cache set to state ("HIT", "MISS" or
// "STALE") and Age counted from when e was stored. It allocates nothing
// once ctx's buffers are warm.
func writeEntry(ctx *fasthttp.RequestCtx, e *cache.Entry, state []byte, now time.Time, sc *scratch) {
	h := &ctx.Response.Header
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(e.Status)
	// The stored names are canonical already (fasthttp's client wrote
	// them), and so are ours: skip normalizing them on every hit. Values
	// are still cleaned of CR and LF by fasthttp.
	h.DisableNormalizing()
	for k, v, next, ok := e.Header(0); ok; k, v, next, ok = e.Header(next) {
		h.AddBytesKV(k, v)
	}
	sc.buf = strconv.AppendInt(sc.buf[:0], int64(e.Age(now)/time.Second), 10)
	h.SetCanonical(canonicalAge, sc.buf)
	h.SetCanonical(canonicalXCache, state)
	h.EnableNormalizing()
	ctx.Response.SetBody(e.Body)
}

var (
	canonicalAge    = []byte(headerAge)
	canonicalXCache = []byte(headerXCache)
	// The X-Cache values.
	xCacheHit   = []byte("HIT")
	xCacheMiss  = []byte("MISS")
	xCacheStale = []byte("STALE")
)
