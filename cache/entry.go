package cache

import (
	"encoding/binary"
	"errors"
	"time"
)

// Entry is a stored response: status, the headers worth keeping, body, and
// its lifetime. An Entry returned by Cache.Get aliases the caller's buffer
// and is valid only as long as that buffer is.
type Entry struct {
	Status int
	// StoredAt, FreshUntil and StaleUntil are Unix nanoseconds. An entry is
	// fresh before FreshUntil and may be served stale before StaleUntil.
	StoredAt, FreshUntil, StaleUntil int64
	// LocalAt is when this process stored the entry (Unix nanoseconds):
	// StoredAt for an answer it fetched itself, later for one another
	// process of a fleet fetched (StoredAt stays the origin's, for Age).
	LocalAt int64
	// Body is the response body.
	Body []byte
	// Variant is what the answer depends on beyond its key (the gateway
	// puts the request's Host and query there): Get serves an entry only
	// to a lookup of the same variant.
	Variant []byte
	// Vary holds the request header fields the answer's Vary named, with
	// the values the request that produced it had, encoded by the caller:
	// Get does not read it; the caller compares it with the request it
	// serves (see the gateway's varyMatches) and counts a mismatch with
	// Cache.Unhit.
	Vary []byte

	headers []byte // encoded header pairs, see AppendHeader
}

// entryVersion tags the encoding so a persisted file from another layout is
// never misread.
const entryVersion = 4

// fixed part: version(1) status(2) storedAt(8) freshUntil(8) staleUntil(8) localAt(8) variantLen(4) varyLen(4) headersLen(4)
const entryFixedLen = 1 + 2 + 8 + 8 + 8 + 8 + 4 + 4 + 4

var errCorrupt = errors.New("cache: corrupt entry")

// AppendHeader adds a header pair to e, in an encoding kept inside e.
func (e *Entry) AppendHeader(k, v []byte) {
	e.headers = binary.AppendUvarint(e.headers, uint64(len(k)))
	e.headers = append(e.headers, k...)
	e.headers = binary.AppendUvarint(e.headers, uint64(len(v)))
	e.headers = append(e.headers, v...)
}

// Header returns the header pair at position pos and the position of the
// next one; ok is false past the last header. Iterate with
//
//	for k, v, next, ok := e.Header(0); ok; k, v, next, ok = e.Header(next) { ... }
//
// It allocates nothing.
func (e *Entry) Header(pos int) (k, v []byte, next int, ok bool) {
	k, pos, ok = readChunk(e.headers, pos)
	if !ok {
		return nil, nil, 0, false
	}
	v, pos, ok = readChunk(e.headers, pos)
	return k, v, pos, ok
}

func readChunk(b []byte, pos int) ([]byte, int, bool) {
	if pos >= len(b) {
		return nil, 0, false
	}
	n, w := binary.Uvarint(b[pos:])
	if w <= 0 || uint64(len(b)-pos-w) < n {
		return nil, 0, false
	}
	start := pos + w
	return b[start : start+int(n)], start + int(n), true
}

// Fresh reports whether e may be served as a hit at now.
func (e *Entry) Fresh(now time.Time) bool { return now.UnixNano() < e.FreshUntil }

// Usable reports whether e may be served at all at now (fresh or stale).
func (e *Entry) Usable(now time.Time) bool { return now.UnixNano() < e.StaleUntil }

// Age returns how long ago e was stored, never negative.
func (e *Entry) Age(now time.Time) time.Duration {
	if d := now.UnixNano() - e.StoredAt; d > 0 {
		return time.Duration(d)
	}
	return 0
}

// Marshal appends e's encoding (what the cache stores) to dst, for a
// second-level store.
func (e *Entry) Marshal(dst []byte) []byte { return e.marshal(dst) }

// Unmarshal decodes an encoding made by Marshal into e, whose slices then
// alias src. It fails on anything else.
func (e *Entry) Unmarshal(src []byte) error { return e.unmarshal(src) }

// marshal appends e's encoding to dst.
func (e *Entry) marshal(dst []byte) []byte {
	dst = append(dst, entryVersion)
	dst = binary.BigEndian.AppendUint16(dst, uint16(e.Status))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.StoredAt))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.FreshUntil))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.StaleUntil))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.LocalAt))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Variant)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Vary)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.headers)))
	dst = append(dst, e.Variant...)
	dst = append(dst, e.Vary...)
	dst = append(dst, e.headers...)
	return append(dst, e.Body...)
}

// unmarshal decodes src into e; e's slices alias src.
func (e *Entry) unmarshal(src []byte) error {
	if len(src) < entryFixedLen || src[0] != entryVersion {
		return errCorrupt
	}
	e.Status = int(binary.BigEndian.Uint16(src[1:]))
	e.StoredAt = int64(binary.BigEndian.Uint64(src[3:]))
	e.FreshUntil = int64(binary.BigEndian.Uint64(src[11:]))
	e.StaleUntil = int64(binary.BigEndian.Uint64(src[19:]))
	e.LocalAt = int64(binary.BigEndian.Uint64(src[27:]))
	nv := uint64(binary.BigEndian.Uint32(src[35:]))
	ny := uint64(binary.BigEndian.Uint32(src[39:]))
	nh := uint64(binary.BigEndian.Uint32(src[43:]))
	rest := src[entryFixedLen:]
	if nv+ny+nh > uint64(len(rest)) {
		return errCorrupt
	}
	e.Variant, rest = rest[:nv], rest[nv:]
	e.Vary, rest = rest[:ny], rest[ny:]
	e.headers, e.Body = rest[:nh], rest[nh:]
	for pos := 0; pos < len(e.headers); {
		var ok bool
		if _, pos, ok = readChunk(e.headers, pos); !ok {
			return errCorrupt
		}
	}
	return nil
}

// size is the encoded length of e.
func (e *Entry) size() int {
	return entryFixedLen + len(e.Variant) + len(e.Vary) + len(e.headers) + len(e.Body)
}
