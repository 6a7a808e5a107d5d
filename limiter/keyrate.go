package limiter

import (
	"math"
	"math/bits"
	"sync"
	"time"
)

const (
	// keyWays is the associativity of the KeyRate table: a key can live in
	// one of the keyWays entries of its set.
	keyWays = 8
	// keyShards is the most lock shards a KeyRate has.
	keyShards = 64
)

// KeyRateConfig configures a KeyRate. Every field's zero value means its
// documented default.
type KeyRateConfig struct {
	// Rate is how many requests one key may make per Per, sustained.
	// Zero or negative means no limit: Allow always says yes.
	Rate float64
	// Per is the period of Rate. Default 1s.
	Per time.Duration
	// Burst is the bucket size: how many requests a fresh or idle key may
	// make at once. Default Rate rounded up, at least 1.
	Burst int
	// MaxKeys bounds the keys tracked at once (rounded up to a power of
	// two, at least 64); memory is about 24 bytes per key, allocated up
	// front. When full, the least recently seen key of the new key's set
	// of 8 is forgotten: approximate LRU. Default 65536.
	MaxKeys int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// KeyRate is a set of per-key token buckets with bounded memory for any
// number of keys, keyed by a 64-bit hash of the key (a good hash: the
// caller's, e.g. xxhash). A key seen for the first time, or forgotten,
// starts with a full bucket. Safe for concurrent use.
type KeyRate struct {
	now    func() time.Time
	perNs  float64 // tokens per nanosecond
	burst  float64
	shards []keyShard
	sets   uint64 // sets per shard, a power of two
	sBits  uint   // log2 of len(shards)
	setBit uint   // log2 of sets
}

type keyShard struct {
	mu      sync.Mutex // guards entries
	entries []keyEntry // sets × keyWays
	_       [32]byte   // keep shards' mutexes on separate cache lines
}

// keyEntry is one key's bucket; last == 0 marks a free entry.
type keyEntry struct {
	key    uint64
	last   int64 // UnixNano of the last refill
	tokens float64
}

// NewKeyRate returns a KeyRate configured by cfg.
func NewKeyRate(cfg KeyRateConfig) *KeyRate {
	k := &KeyRate{now: cfg.Now}
	if k.now == nil {
		k.now = time.Now
	}
	if cfg.Rate <= 0 {
		return k
	}
	per := orDur(cfg.Per, time.Second)
	k.perNs = cfg.Rate / float64(per)
	k.burst = float64(cfg.Burst)
	if cfg.Burst <= 0 {
		k.burst = max(1, math.Ceil(cfg.Rate))
	}
	n := uint64(max(orInt(cfg.MaxKeys, 1<<16), keyWays*8))
	total := uint64(1) << bits.Len64(n-1) / keyWays // sets in all
	shards := min(total, keyShards)
	k.sBits = uint(bits.TrailingZeros64(shards))
	k.sets = total / shards
	k.setBit = uint(bits.TrailingZeros64(k.sets))
	k.shards = make([]keyShard, shards)
	for i := range k.shards {
		k.shards[i].entries = make([]keyEntry, k.sets*keyWays)
	}
	return k
}

// Allow takes one token from keyHash's bucket. It returns true, or false
// and the wait until the bucket holds a token again (the caller rounds it
// into a Retry-After). It allocates nothing.
func (k *KeyRate) Allow(keyHash uint64) (ok bool, wait time.Duration) {
	if k.shards == nil {
		return true, 0
	}
	now := max(k.now().UnixNano(), 1)
	// Multiplicative hashing: the high bits are the well mixed ones. The
	// top sBits pick the shard, the next setBit the set.
	h := keyHash * 0x9E3779B97F4A7C15
	s := &k.shards[h>>(64-k.sBits)&(uint64(len(k.shards))-1)]
	set := ((h << k.sBits >> (64 - k.setBit)) & (k.sets - 1)) * keyWays
	s.mu.Lock()
	e := k.find(s.entries[set:set+keyWays], keyHash, now)
	if el := float64(now - e.last); el > 0 {
		e.tokens = min(k.burst, e.tokens+el*k.perNs)
	}
	e.last = now
	if e.tokens >= 1 {
		e.tokens--
		s.mu.Unlock()
		return true, 0
	}
	wait = time.Duration(math.Ceil((1 - e.tokens) / k.perNs))
	s.mu.Unlock()
	return false, wait
}

// find returns the entry of key in set, taking over a free or the least
// recently used entry (with a full bucket) if key is not there.
func (k *KeyRate) find(set []keyEntry, key uint64, now int64) *keyEntry {
	victim := &set[0]
	for i := range set {
		e := &set[i]
		if e.last != 0 && e.key == key {
			return e
		}
		if e.last < victim.last {
			victim = e
		}
	}
	*victim = keyEntry{key: key, last: now, tokens: k.burst}
	return victim
}
