package cache

import (
	"bytes"
	"net/http"
	"strconv"
	"time"
)

// Policy is a route's caching rule.
type Policy struct {
	// FixedTTL, when positive, is the freshness lifetime; zero means take it
	// from the upstream's Cache-Control (s-maxage, max-age) or Expires.
	FixedTTL time.Duration
	// MaxTTL caps the freshness lifetime; zero means no cap.
	MaxTTL time.Duration
	// StaleFor is how long after freshness ends the entry may still be
	// served when the upstream cannot answer; zero means never.
	StaleFor time.Duration
}

// Lifetime computes an answer's fresh-until and stale-until times from its
// Cache-Control and Expires header values; cacheControl is every
// Cache-Control line of the answer joined with commas (RFC 9110 section
// 5.3), since a directive on a second line binds as much as one on the
// first. ok is false when the answer must not be stored by a shared cache
// (RFC 9111 section 3): no-store, private or no-cache (which asks for a
// revalidation before every reuse, which this cache does not do), or no
// positive lifetime. With FixedTTL set, the upstream's lifetime is ignored
// but its no-store, private and no-cache are still respected.
//
// must-revalidate, proxy-revalidate and s-maxage forbid serving the entry
// once stale (RFC 9111 sections 4.2.4, 5.2.2.2, 5.2.2.8 and 5.2.2.10):
// StaleFor does not apply to such answers.
func (p Policy) Lifetime(now time.Time, cacheControl, expires []byte) (freshUntil, staleUntil time.Time, ok bool) {
	d := parseCacheControl(cacheControl)
	if d.forbidden {
		return time.Time{}, time.Time{}, false
	}
	ttl := d.ttl
	switch {
	case p.FixedTTL > 0:
		ttl = p.FixedTTL
	case ttl < 0 && len(expires) > 0:
		if t, err := http.ParseTime(string(expires)); err == nil {
			ttl = t.Sub(now)
		}
	}
	if p.MaxTTL > 0 && ttl > p.MaxTTL {
		ttl = p.MaxTTL
	}
	if ttl <= 0 {
		return time.Time{}, time.Time{}, false
	}
	freshUntil = now.Add(ttl)
	if d.noStale {
		return freshUntil, freshUntil, true
	}
	return freshUntil, freshUntil.Add(p.StaleFor), true
}

// Shareable reports whether an answer with these Cache-Control directives
// (every line, joined with commas) may be given to anyone but the client
// whose request produced it: not when private or no-store. no-cache
// answers are shareable (a shared cache may store them) but not stored.
func Shareable(cacheControl []byte) bool {
	return !parseCacheControl(cacheControl).private
}

// directives is what the gateway uses of a Cache-Control value.
type directives struct {
	ttl       time.Duration // s-maxage over max-age; -1 when neither
	forbidden bool          // no-store, private or no-cache: do not store
	private   bool          // no-store or private: do not share
	noStale   bool          // must-revalidate, proxy-revalidate or s-maxage
}

// parseCacheControl reads the directives of a Cache-Control value.
// Directive names are case-insensitive; an unknown one is ignored.
func parseCacheControl(v []byte) directives {
	maxAge, sMaxAge := time.Duration(-1), time.Duration(-1)
	var d directives
	for len(v) > 0 {
		var dir []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			dir, v = v[:i], v[i+1:]
		} else {
			dir, v = v, nil
		}
		dir = bytes.TrimSpace(dir)
		name, arg, _ := bytes.Cut(dir, []byte("="))
		name = bytes.TrimSpace(name)
		switch {
		case bytes.EqualFold(name, []byte("no-store")), bytes.EqualFold(name, []byte("private")):
			d.forbidden, d.private = true, true
		case bytes.EqualFold(name, []byte("no-cache")):
			d.forbidden = true
		case bytes.EqualFold(name, []byte("must-revalidate")), bytes.EqualFold(name, []byte("proxy-revalidate")):
			d.noStale = true
		case bytes.EqualFold(name, []byte("max-age")):
			maxAge = parseSeconds(arg)
		case bytes.EqualFold(name, []byte("s-maxage")):
			sMaxAge = parseSeconds(arg)
			d.noStale = true
		}
	}
	d.ttl = maxAge
	if sMaxAge >= 0 {
		d.ttl = sMaxAge
	}
	return d
}

func parseSeconds(b []byte) time.Duration {
	n, err := strconv.ParseInt(string(bytes.Trim(b, `"`)), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	if n > int64(100*365*24*3600) {
		n = int64(100 * 365 * 24 * 3600)
	}
	return time.Duration(n) * time.Second
}
