package gateway

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

var (
	bodyNoHost         = []byte(`{"error":"bad request: no Host header and no authority in the request target"}`)
	bodyMisdirected    = []byte(`{"error":"misdirected request: this listener serves plain http only"}`)
	bodyMethodRefused  = []byte(`{"error":"method not allowed: TRACE and CONNECT are never forwarded"}`)
	bodyNotForwardable = []byte(`{"error":"bad request: the request cannot be forwarded as sent"}`)
	schemeHTTP         = []byte("http")
)

// refuseUnforwardable answers, and reports true for, a request that no
// upstream should ever see, before it touches a route, the cache or the
// limiter: TRACE and CONNECT (405: a reverse proxy has no use for them and
// TRACE reflects credentials), a request with no Host at all (400:
// HTTP/1.0 allows it, but the upstream's client cannot send it), and an
// absolute-form target of another scheme (421: https:// sent to a plain
// listener). Refused here, these are the client's errors: they never reach
// an upstream target, so they can never count against it.
func refuseUnforwardable(ctx *fasthttp.RequestCtx) bool {
	switch string(ctx.Method()) {
	case fasthttp.MethodTrace, fasthttp.MethodConnect:
		writeJSONError(ctx, fasthttp.StatusMethodNotAllowed, bodyMethodRefused)
		ctx.Response.Header.Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		return true
	}
	uri := ctx.URI()
	if !bytes.EqualFold(uri.Scheme(), schemeHTTP) {
		writeJSONError(ctx, fasthttp.StatusMisdirectedRequest, bodyMisdirected)
		return true
	}
	if len(uri.Host()) == 0 {
		writeJSONError(ctx, fasthttp.StatusBadRequest, bodyNoHost)
		return true
	}
	return false
}
