package gateway

import (
	"bytes"
	"iter"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
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
	headerRequestID     = "X-Request-Id"
	headerForwardedFor  = "X-Forwarded-For"
	headerConnection    = "Connection"
	proxyHeaderPrefix   = "Proxy-"
	maxConnectionTokens = 16
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
func collectConnectionTokens(value []byte, names *headerNames) {
	for i := 0; len(value) > 0 && i < maxConnectionTokens; i++ {
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
// its Connection header lists, and any Proxy-* header.
func stripHops[H hopHeader](h H, names *headerNames) {
	names.reset()
	collectConnectionTokens(h.Peek(headerConnection), names)
	for k := range h.All() {
		if hasProxyPrefix(k) {
			names.add(k)
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

// requestIDs generates request ids: a random per-process prefix and a
// counter, so ids are unique across restarts without a syscall per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func (r *requestIDs) append(dst []byte) []byte {
	dst = append(dst, r.prefix...)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, r.n.Add(1), 36)
}
