package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// keyHasher turns identity keys (resident ID numbers) into a keyed hash for
// logs: HMAC-SHA256 under a secret key, truncated to 64 bits. A plain hash
// would not do: an ID number has so little entropy that its hash can be
// reversed by enumeration. Safe for concurrent use.
type keyHasher struct {
	pool sync.Pool
}

func newKeyHasher(key []byte) *keyHasher {
	k := append([]byte(nil), key...)
	return &keyHasher{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

// hash returns the keyed hash of key as 16 hex digits, or "" for no key.
func (h *keyHasher) hash(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	m.Write(key)
	var sum [sha256.Size]byte
	out := m.Sum(sum[:0])
	h.pool.Put(m)
	return hex.EncodeToString(out[:8])
}
