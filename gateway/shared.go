package gateway

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"shedgate/cache"
)

// What a shared cache must honour (RFC 9111), in the gateway's words:
//
//   - A request carrying credentials (Authorization, Cookie) on a route
//     not marked public is private: it is neither answered from the cache
//     nor coalesced, and its answer is neither stored nor shared.
//   - An answer is shared with other requests (coalesced waiters, the
//     cache) only when it is shareable: no private or no-store on any
//     Cache-Control line, no Set-Cookie. An answer with Vary is shared
//     only with requests that have the same values of the fields it
//     names (the entry keeps them: appendVary, varyMatches); Vary "*" or
//     more than maxVaryFields names is never shared.
//   - Host (and a trusted proxy's X-Forwarded-Host) and the query string
//     are part of an entry's identity, its variant, unless the route says
//     host: ignore or query: drop (the query is then removed before
//     forwarding, so it cannot vary the answer).
//   - The client's own request directives (Cache-Control: no-cache) are
//     not honoured: in a surge, a client must not be able to send every
//     request past the cache.

var (
	headerAuthorization  = []byte("Authorization")
	headerCookie         = []byte("Cookie")
	headerSetCookie      = []byte("Set-Cookie")
	headerVary           = []byte("Vary")
	headerCacheControl   = []byte("Cache-Control")
	headerForwardedHost  = "X-Forwarded-Host"
	headerForwardedProto = "X-Forwarded-Proto"
	headerForwarded      = "Forwarded"
)

// hasCredentials reports whether a request carries credentials that may
// make its answer personal, from the scan when it knows, else by lookup.
// It allocates nothing for a request without cookies.
func hasCredentials(h *fasthttp.RequestHeader, f headerFlags) bool {
	if f&flagRawKnown != 0 {
		return f&flagCredentials != 0
	}
	return len(h.PeekBytes(headerAuthorization)) > 0 || len(h.PeekBytes(headerCookie)) > 0
}

// appendVariant appends what, beyond its key, the answer to ctx's request
// may depend on under rt's rules: the Host (lower-cased) and a trusted
// X-Forwarded-Host unless rt ignores the host, and the query string
// unless rt drops it. Each part is length-prefixed, so no two requests
// share a variant by accident. forwarded false says the request carries no
// forwarding header (see scanHeaders). It allocates nothing once dst has
// room.
func (r *route) appendVariant(dst []byte, ctx *fasthttp.RequestCtx, forwarded bool) []byte {
	if r.keyHost {
		host := ctx.URI().Host()
		dst = binary.AppendUvarint(dst, uint64(len(host)))
		for _, c := range host {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		var fwd []byte
		if forwarded {
			fwd = ctx.Request.Header.Peek(headerForwardedHost)
		}
		dst = appendPart(dst, fwd)
	}
	if !r.dropQuery {
		dst = appendPart(dst, ctx.URI().QueryString())
	}
	return dst
}

// appendPart appends b, length-prefixed.
func appendPart(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// joinHeader appends every value of the header named name in h to dst,
// joined with ", " (RFC 9110 section 5.3: repeated field lines are one
// comma-separated list).
func joinHeader(dst []byte, h *fasthttp.ResponseHeader, name []byte) []byte {
	for k, v := range h.All() {
		if !bytes.EqualFold(k, name) {
			continue
		}
		if len(dst) > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, v...)
	}
	return dst
}

// Why an answer on a cached route was not stored (see notStored).
const (
	unsharedNone         = iota
	unsharedCacheControl // Cache-Control private or no-store, on any line
	unsharedSetCookie
	unsharedVary
	unsharedNoLifetime // no-cache, or no positive max-age/s-maxage/Expires
	unsharedReasons
)

// unsharedNames label gateway_cache_not_stored_total.
var unsharedNames = [unsharedReasons]string{"", "cache_control", "set_cookie", "vary", "no_lifetime"}

// notStored counts answers of cached routes (200s) that were not stored,
// by reason: an operator whose backend sends Vary or Set-Cookie on every
// answer sees why the hit ratio is zero.
type notStored [unsharedReasons]atomic.Uint64

// privateAnswer returns why an upstream answer must go to its own
// requester only, or unsharedNone: Cache-Control private or no-store on
// any line (cc is every line joined), or a Set-Cookie. (Vary is handled by
// appendVary.)
func privateAnswer(h *fasthttp.ResponseHeader, cc []byte) int {
	if !cache.Shareable(cc) {
		return unsharedCacheControl
	}
	for k := range h.All() {
		if bytes.EqualFold(k, headerSetCookie) {
			return unsharedSetCookie
		}
	}
	return unsharedNone
}

// maxVaryFields bounds the request fields one answer may vary on.
const maxVaryFields = 8

// appendVary encodes what an answer with these Vary field names (every
// line joined) depends on in req: each name, lower-cased, and req's value
// of it (its first line), length-prefixed. ok is false when the answer
// cannot be shared: Vary "*" or more than maxVaryFields names. An entry
// keeps this encoding; varyMatches compares it with a later request.
func appendVary(dst, vary []byte, req *fasthttp.RequestHeader) (_ []byte, ok bool) {
	n := 0
	for len(vary) > 0 {
		var name []byte
		if i := bytes.IndexByte(vary, ','); i >= 0 {
			name, vary = vary[:i], vary[i+1:]
		} else {
			name, vary = vary, nil
		}
		name = bytes.TrimSpace(name)
		if len(name) == 0 {
			continue
		}
		if bytes.Equal(name, []byte("*")) || n == maxVaryFields {
			return dst, false
		}
		n++
		dst = binary.AppendUvarint(dst, uint64(len(name)))
		for _, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		dst = appendPart(dst, req.PeekBytes(name))
	}
	return dst, true
}

// varyMatches reports whether req has, for every field an entry's Vary
// encoding names, the value the request that produced the entry had. It
// allocates nothing.
func varyMatches(enc []byte, req *fasthttp.RequestHeader) bool {
	for len(enc) > 0 {
		name, rest, ok := readPart(enc)
		if !ok {
			return false
		}
		value, rest, ok := readPart(rest)
		if !ok || !bytes.Equal(req.PeekBytes(name), value) {
			return false
		}
		enc = rest
	}
	return true
}

// readPart reads one length-prefixed part (see appendPart).
func readPart(b []byte) (part, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, nil, false
	}
	return b[w : w+int(n)], b[w+int(n):], true
}
