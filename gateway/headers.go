package gateway

import (
	"bytes"
	"encoding/hex"
	"iter"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"

	"github.com/valyala/fasthttp"
)

// hopHeaders are the hop-by-hop headers of RFC 9110 section 7.6.1 (and the
// older Keep-Alive and Proxy-Connection): they describe one connection and
// must not be forwarded. Headers named by Connection, and any Proxy-*
// header, are removed too.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

const (
	headerRequestID    = "X-Request-Id"
	headerForwardedFor = "X-Forwarded-For"
	headerConnection   = "Connection"
	proxyHeaderPrefix  = "Proxy-"
)

// headerNames is a scratch list of header names to delete, kept in one
// buffer so that collecting them allocates nothing once warm.
type headerNames struct {
	buf  []byte
	ends []int
}

func (n *headerNames) reset() { n.buf, n.ends = n.buf[:0], n.ends[:0] }

func (n *headerNames) add(name []byte) {
	n.buf = append(n.buf, name...)
	n.ends = append(n.ends, len(n.buf))
}

func (n *headerNames) each(f func(name []byte)) {
	start := 0
	for _, end := range n.ends {
		f(n.buf[start:end])
		start = end
	}
}

// collectConnectionTokens adds the header names listed in a Connection value
// ("close, X-Foo") to names; "close" and "keep-alive" are options, not names.
// Every token counts: the header's size bounds their number.
func collectConnectionTokens(value []byte, names *headerNames) {
	for len(value) > 0 {
		tok := value
		if j := bytes.IndexByte(value, ','); j >= 0 {
			tok, value = value[:j], value[j+1:]
		} else {
			value = nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) == 0 || bytes.EqualFold(tok, []byte("close")) || bytes.EqualFold(tok, []byte("keep-alive")) {
			continue
		}
		names.add(tok)
	}
}

func hasProxyPrefix(name []byte) bool {
	return len(name) > len(proxyHeaderPrefix) &&
		bytes.EqualFold(name[:len(proxyHeaderPrefix)], []byte(proxyHeaderPrefix))
}

// hopHeader is what stripHops needs of a request or response header.
type hopHeader interface {
	Peek(key string) []byte
	All() iter.Seq2[[]byte, []byte]
	Del(key string)
	DelBytes(key []byte)
}

// stripHops removes hop-by-hop headers from h: the fixed list, the names
// its Connection header lines list (every line), and any Proxy-* header.
func stripHops[H hopHeader](h H, names *headerNames) {
	names.reset()
	for k, v := range h.All() {
		switch {
		case hasProxyPrefix(k):
			names.add(k)
		case bytes.EqualFold(k, []byte(headerConnection)):
			collectConnectionTokens(v, names)
		}
	}
	names.each(h.DelBytes)
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// appendForwardedFor appends the client's address to an existing
// X-Forwarded-For value (or starts one).
func appendForwardedFor(dst, prior []byte, remote net.Addr) []byte {
	if len(prior) > 0 {
		dst = append(dst, prior...)
		dst = append(dst, ", "...)
	}
	var ip net.IP
	switch a := remote.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return append(dst, "unknown"...)
	}
	return addr.Unmap().AppendTo(dst)
}

// Headers that only a trusted proxy may set: from any other peer they are
// removed before anything reads them.
var forwardingHeaders = []string{headerForwardedFor, headerForwardedHost, headerForwardedProto, headerForwarded, headerRequestID}

// headerFlags is what one pass over a request's raw header lines finds.
type headerFlags uint8

const (
	flagForwarding  headerFlags = 1 << iota // X-Forwarded-*, Forwarded or X-Request-Id
	flagCredentials                         // Authorization or Cookie
	flagRawKnown                            // the raw lines were there to scan
)

// scanHeaders reads the request's raw header lines once and reports which
// of the header families the request path cares about start a line, in
// any case. Peeking each name instead costs a normalized copy of the name
// per lookup, on every request, hits included. A false positive only sends
// the request down the careful path; without raw lines (a request built in
// memory) the flags are unknown and callers look the headers up.
func scanHeaders(h *fasthttp.RequestHeader) headerFlags {
	raw := h.RawHeaders()
	if len(raw) == 0 {
		return 0
	}
	f := flagRawKnown
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) == 0 {
			continue
		}
		switch line[0] | 0x20 { // lower case for letters
		case 'x':
			if hasPrefixFold(line, "x-forwarded-") || hasPrefixFold(line, "x-request-id") {
				f |= flagForwarding
			}
		case 'f':
			if hasPrefixFold(line, "forwarded") {
				f |= flagForwarding
			}
		case 'a':
			if hasPrefixFold(line, "authorization") {
				f |= flagCredentials
			}
		case 'c':
			if hasPrefixFold(line, "cookie") {
				f |= flagCredentials
			}
		case 't':
			// Trailer fields arrive after the raw lines; fasthttp refuses
			// Authorization and Cookie there, not X-Forwarded-For.
			if hasPrefixFold(line, "trailer") {
				f |= flagForwarding
			}
		}
	}
	return f
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// dropForwarding removes the headers a client could forge to pass for
// someone else, or to choose the id its request is logged under, unless
// the scan found none of them.
func dropForwarding(h *fasthttp.RequestHeader, f headerFlags) {
	if f&flagRawKnown != 0 && f&flagForwarding == 0 {
		return
	}
	for _, name := range forwardingHeaders {
		h.Del(name)
	}
}

// trustedPeer reports whether the request's peer is a trusted proxy.
func (st *state) trustedPeer(ctx *fasthttp.RequestCtx) bool {
	if len(st.trusted) == 0 {
		return false
	}
	addr, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return false
	}
	addr = addr.Unmap()
	for _, p := range st.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// validRequestID reports whether a trusted proxy's X-Request-Id may be
// kept: 1 to 128 characters of letters, digits and -_.:, so that it
// cannot break a log line or a header.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// requestIDs generates request ids: 128 bits from a ChaCha8 generator
// seeded from crypto/rand, one per P from a pool, so that no client can
// predict another's id (ids are a handle for support and logs), with no
// syscall and no allocation per request.
type requestIDs struct {
	pool sync.Pool
}

func newRequestIDs() *requestIDs {
	r := &requestIDs{}
	r.pool.New = func() any {
		var seed [32]byte
		copy(seed[:], randomBytes(32))
		return rand.NewChaCha8(seed)
	}
	return r
}

func (r *requestIDs) append(dst []byte) []byte {
	c := r.pool.Get().(*rand.ChaCha8)
	var b [16]byte
	c.Read(b[:]) //nolint:errcheck // never fails
	r.pool.Put(c)
	return hex.AppendEncode(dst, b[:])
}
