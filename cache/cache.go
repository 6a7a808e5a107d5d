// Package cache is a bounded in-memory byte cache of upstream answers with
// a fresh-until and a stale-until time per entry, on fastcache: memory is
// bounded by MaxBytes whatever the number of keys, entries live outside the
// Go heap, and the whole cache can be saved to disk atomically and loaded
// on restart so a restarted gateway answers hits before its backend is back.
//
// Keys are the caller's bytes (the gateway uses route name + key);
// fastcache hashes them with xxhash and compares the stored key on every
// read, so two keys never share an entry. Entries above fastcache's 64 KiB
// limit are skipped and counted, never truncated.
//
// The package knows no HTTP: it stores status, header pairs and body, and
// computes lifetimes from header values it is given.
package cache

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/fastcache"
)

// MaxEntryBytes is the largest encoded entry stored; larger answers are
// skipped (fastcache's per-entry limit, less its own overhead).
const MaxEntryBytes = 64*1024 - 16

// DefaultMaxBytes is what a zero Config.MaxBytes stands for; configs gives
// a gateway config the same.
const DefaultMaxBytes = 512 << 20

// Config configures a Cache. Zero values mean the documented defaults.
type Config struct {
	// MaxBytes bounds the memory used by entries. Default DefaultMaxBytes;
	// fastcache rounds it up to a multiple of 32 MiB.
	MaxBytes int
	// PersistPath, when set, is the directory Save writes snapshots to,
	// Del journals deleted keys to, and New loads from (see persist.go).
	// Default: no persistence.
	PersistPath string
}

// Cache is safe for concurrent use.
type Cache struct {
	fc          *fastcache.Cache
	persistPath string
	saveMu      sync.Mutex // serializes Save; guards seq
	seq         int        // the last snapshot's number
	journal     *journal   // nil without a PersistPath
	// loadProblem is why the snapshot found at start was set aside; nil
	// when there was none or it loaded.
	loadProblem error
	replayed    int // journal entries applied at start

	hits, misses, stale, staleServed  atomic.Uint64
	stores, skipped, invalidations    atomic.Uint64
	loaded                            atomic.Uint64
	lastPersistNanos, persistFailures atomic.Int64
}

// New returns an empty cache, or the one saved at cfg.PersistPath, less
// the keys deleted after that save began. A snapshot that cannot be read
// (damaged, or written for another MaxBytes) is set aside and the cache
// starts empty: LoadProblem says why. The error is for a PersistPath that
// cannot be used at all (not a directory, not writable).
func New(cfg Config) (*Cache, error) {
	maxBytes := cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	c := &Cache{persistPath: cfg.PersistPath}
	if cfg.PersistPath == "" {
		c.fc = fastcache.New(maxBytes)
		return c, nil
	}
	fc, seq, replayed, problem, err := open(cfg.PersistPath, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("cache: %s: %w", cfg.PersistPath, err)
	}
	jp := filepath.Join(cfg.PersistPath, journalFile)
	f, err := os.OpenFile(jp, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c.fc, c.seq, c.replayed, c.loadProblem = fc, seq, replayed, problem
	c.journal = &journal{f: f, path: jp}
	var s fastcache.Stats
	fc.UpdateStats(&s)
	c.loaded.Store(s.EntriesCount)
	return c, nil
}

// LoadProblem returns why the snapshot found at start was set aside, or
// nil.
func (c *Cache) LoadProblem() error { return c.loadProblem }

// Lookup is the outcome of Get.
type Lookup int

// Lookup outcomes.
const (
	Miss  Lookup = iota // nothing usable stored
	Fresh               // serve as a hit
	Stale               // past freshness but within its stale window
)

// Get looks key up at time now, decoding into e an entry that aliases dst
// (which it appends to and returns). An entry stored for another variant
// is a miss. It counts a hit, a miss or a stale find. It allocates nothing
// when dst has room. The caller's clock reading decides freshness, so that
// a request reads the clock once.
func (c *Cache) Get(dst, key, variant []byte, now time.Time, e *Entry) ([]byte, Lookup) {
	dst, ok := c.fc.HasGet(dst[:0], key)
	if !ok || e.unmarshal(dst) != nil || !bytes.Equal(e.Variant, variant) {
		c.misses.Add(1)
		return dst, Miss
	}
	switch {
	case e.Fresh(now):
		c.hits.Add(1)
		return dst, Fresh
	case e.Usable(now):
		c.stale.Add(1)
		return dst, Stale
	default:
		c.misses.Add(1)
		return dst, Miss
	}
}

// Unhit turns a Get that found l (Fresh or Stale) into a miss in the
// counters: the caller found the entry is for another variant of the
// request (its Vary fields differ).
func (c *Cache) Unhit(l Lookup) {
	switch l {
	case Fresh:
		c.hits.Add(^uint64(0))
	case Stale:
		c.stale.Add(^uint64(0))
	default:
		return
	}
	c.misses.Add(1)
}

// CountStaleServed records that a stale entry was served in place of an
// upstream answer.
func (c *Cache) CountStaleServed() { c.staleServed.Add(1) }

// Set stores e under key, using buf as scratch (returned for reuse).
// Entries larger than MaxEntryBytes are skipped and counted.
func (c *Cache) Set(buf, key []byte, e *Entry) []byte {
	if e.size()+len(key) > MaxEntryBytes {
		c.skipped.Add(1)
		return buf
	}
	buf = e.marshal(buf[:0])
	c.fc.Set(key, buf)
	c.stores.Add(1)
	return buf
}

// Del removes key's entry, if any; with a PersistPath, the deletion is
// journaled before Del returns, so that no restart brings the entry back.
func (c *Cache) Del(key []byte) {
	c.fc.Del(key)
	c.invalidations.Add(1)
	if c.journal != nil {
		if err := c.journal.add(key); err != nil {
			c.persistFailures.Add(1)
		}
	}
}

// Save writes a new snapshot to PersistPath; the previous one is removed
// only once the new one is complete (see persist.go). It is a no-op
// without a PersistPath.
func (c *Cache) Save() error {
	if c.persistPath == "" {
		return nil
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	start := time.Now()
	c.seq++
	err := c.save(c.seq)
	c.lastPersistNanos.Store(int64(time.Since(start)))
	if err != nil {
		c.persistFailures.Add(1)
		return fmt.Errorf("cache: save %s: %w", c.persistPath, err)
	}
	return nil
}

// Stats are a cache's counters and gauges.
type Stats struct {
	Hits, Misses, StaleFound, StaleServed uint64
	Stores, Skipped, Invalidations        uint64
	Loaded                                uint64 // entries loaded from disk at start
	Replayed                              uint64 // journaled deletions applied at start
	SetAside                              uint64 // 1 if the snapshot found at start was set aside
	Entries, Bytes, MaxBytes              uint64
	EvictedBytes                          uint64
	LastPersist                           time.Duration
	PersistFailures                       int64
}

// UpdateStats fills s with the cache's current figures.
func (c *Cache) UpdateStats(s *Stats) {
	var fs fastcache.Stats
	c.fc.UpdateStats(&fs)
	*s = Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(),
		StaleFound: c.stale.Load(), StaleServed: c.staleServed.Load(),
		Stores: c.stores.Load(), Skipped: c.skipped.Load(), Invalidations: c.invalidations.Load(),
		Loaded: c.loaded.Load(), Replayed: uint64(c.replayed),
		Entries: fs.EntriesCount, Bytes: fs.BytesSize, MaxBytes: fs.MaxBytesSize,
		EvictedBytes:    fs.EvictedBytes,
		LastPersist:     time.Duration(c.lastPersistNanos.Load()),
		PersistFailures: c.persistFailures.Load(),
	}
	if c.loadProblem != nil {
		s.SetAside = 1
	}
}
