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
// Cache-Control and Expires header values. ok is false when the answer must
// not be stored: no-store, private or no-cache, or no positive lifetime.
// With FixedTTL set, the upstream's lifetime is ignored but its no-store and
// private are still respected.
func (p Policy) Lifetime(now time.Time, cacheControl, expires []byte) (freshUntil, staleUntil time.Time, ok bool) {
	ttl, forbidden := parseCacheControl(cacheControl)
	if forbidden {
		return time.Time{}, time.Time{}, false
	}
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
	return freshUntil, freshUntil.Add(p.StaleFor), true
}

// parseCacheControl returns the lifetime the directives give (s-maxage over
// max-age; -1 when neither is present) and whether storing is forbidden.
func parseCacheControl(v []byte) (ttl time.Duration, forbidden bool) {
	maxAge, sMaxAge := time.Duration(-1), time.Duration(-1)
	for len(v) > 0 {
		var d []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			d, v = v[:i], v[i+1:]
		} else {
			d, v = v, nil
		}
		d = bytes.TrimSpace(d)
		name, arg, _ := bytes.Cut(d, []byte("="))
		switch string(bytes.ToLower(name)) {
		case "no-store", "private", "no-cache":
			return 0, true
		case "max-age":
			maxAge = parseSeconds(arg)
		case "s-maxage":
			sMaxAge = parseSeconds(arg)
		}
	}
	if sMaxAge >= 0 {
		return sMaxAge, false
	}
	return maxAge, false
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
