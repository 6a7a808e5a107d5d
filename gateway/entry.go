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
	e := &cache.Entry{Status: resp.StatusCode(), StoredAt: now.UnixNano()}
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
func writeEntry(ctx *fasthttp.RequestCtx, e *cache.Entry, state string, now time.Time, sc *scratch) {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(e.Status)
	for k, v, next, ok := e.Header(0); ok; k, v, next, ok = e.Header(next) {
		ctx.Response.Header.AddBytesKV(k, v)
	}
	ctx.Response.SetBody(e.Body)
	sc.buf = strconv.AppendInt(sc.buf[:0], int64(e.Age(now)/time.Second), 10)
	ctx.Response.Header.SetBytesV(headerAge, sc.buf)
	ctx.Response.Header.Set(headerXCache, state)
}
