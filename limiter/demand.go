package limiter

import "sync/atomic"

// Demand ranks the users of a cached route by how often their key was
// asked for recently, so that the admission level spends the backend on
// the fetches the cache will reuse.
//
// With a plain user hash (DAGOR's user priority) a level that admits a
// quarter of a class admits a quarter of the keys, the same quarter each
// time: three quarters of the hot codes are never fetched, so never
// cached, and every later request for them is shed again. An expert
// HAProxy, admitting at random, cached more of the hot codes and served
// more in the same surge. Ranked by demand, the level first admits misses
// for keys that many requests ask for (each fetch answers all of them,
// now through coalescing and later as cache hits) and sheds first the
// keys asked for once; within a demand rank the key's hash still decides,
// so a rank is cut the same users each time.
//
// The estimate is TinyLFU's (Einziger, Friedman, Manes; the sketch that
// Caffeine and Ristretto admit cache entries by): a count-min sketch of
// four saturating 4-bit counters per key (the smallest is the estimate),
// all halved after a sample of increments so that old popularity fades.
// It counts the requests that reach admission (cache misses): a key served
// from the cache needs no rank.
//
// Unlike TinyLFU, which compares two candidates and samples ten times its
// cache's size, the level needs the low counts exact: a key asked for the
// first time must rank below one asked for twice, or first-time misses
// (a new code, fetched for one answer) take the slots of repeated ones.
// A count-min estimate reads high when every one of a key's four counters
// was raised by other keys, so the sample is an eighth of the counters:
// at a halving, at most half a raise per counter on average
// (TestDemandFirstRequestsRankLowest; the figures are on
// docs/admission-runs.md).
//
// A retry counts as demand: a resident who retries climbs a rank. The
// route's per_key rate bounds what one key can gain that way.
type Demand struct {
	words   []atomic.Uint64 // 16 four-bit counters each
	mask    uint64          // counters - 1
	added   atomic.Uint64
	sample  uint64
	halving atomic.Bool
}

// demandRank maps a count (a counter saturates at 15) to one of eight
// ranks, the top three bits of the user level: 1, 2, 3, 4-5, 6-7, 8-10,
// 11-13, 14-15 requests.
var demandRank = [16]uint64{0, 0, 1, 2, 3, 3, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7}

// DemandCounters is the gateway's sketch size: 4 Mi counters, 2 MiB,
// halving every 524,288 misses (0.7 ms each time on the request that
// triggers it).
const DemandCounters = 1 << 22

// NewDemand returns a sketch of about counters 4-bit counters (rounded up
// to a power of two, at least 1,024): 8 KiB per 16,384 counters. Its
// sample is an eighth of its counters: every counter halves after that
// many requests.
func NewDemand(counters int) *Demand {
	n := uint64(1024)
	for n < uint64(counters) {
		n <<= 1
	}
	return &Demand{words: make([]atomic.Uint64, n/16), mask: n - 1, sample: n / 8}
}

// User records one more request for the key with hash keyHash and
// returns the user hash to admit it by (see Limiter.Acquire): keys asked
// for more often rank as more important users. It allocates nothing and
// takes no lock. A nil Demand returns keyHash.
func (d *Demand) User(keyHash uint64) uint64 {
	if d == nil {
		return keyHash
	}
	// Lower user values are more important; the rank takes the top three
	// bits and the key's hash the rest, so a rank is cut by hash.
	return (7-demandRank[d.add(keyHash)])<<61 | keyHash>>3
}

// UserWith returns the user hash to admit a request for the key with hash
// keyHash by, ranked by the larger of this sketch's count and others, a
// count made elsewhere (a fleet's count of the key's misses on every
// gateway: each gateway alone sees only its share of the demand). It
// counts nothing: User counted the request. A nil Demand returns keyHash.
func (d *Demand) UserWith(keyHash uint64, others int64) uint64 {
	if d == nil {
		return keyHash
	}
	n := max(d.count(keyHash), int(min(max(others, 0), 15)))
	return (7-demandRank[n])<<61 | keyHash>>3
}

// count returns how many requests for keyHash the sketch has counted
// (at most 15) since they last faded.
func (d *Demand) count(keyHash uint64) int {
	return d.estimate(mix(keyHash))
}

// mix is murmur3's 64-bit finalizer: every bit of the key's hash moves
// every bit of the counters' positions, also for hashes with long runs of
// zeros.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}

// slot returns the word and bit shift of the counter in row i for the
// mixed hash h: four positions from its two halves (Kirsch and
// Mitzenmacher: h1 + i*h2).
func (d *Demand) slot(h uint64, i int) (word uint64, shift uint) {
	h1, h2 := h>>32, h&0xffffffff|1
	c := (h1 + uint64(i)*h2) & d.mask
	return c / 16, uint(c%16) * 4
}

func (d *Demand) estimate(h uint64) int {
	est := 15
	for i := range 4 {
		w, s := d.slot(h, i)
		est = min(est, int(d.words[w].Load()>>s&15))
	}
	return est
}

// add counts one request for keyHash and returns the new estimate. Every
// one of the key's counters grows (saturating at 15): conservative update
// (only the smallest) would lose concurrent requests for one key.
func (d *Demand) add(keyHash uint64) int {
	h := mix(keyHash)
	est := 15
	for i := range 4 {
		w, s := d.slot(h, i)
		for {
			old := d.words[w].Load()
			c := int(old >> s & 15)
			if c == 15 || d.words[w].CompareAndSwap(old, old+1<<s) {
				est = min(est, c+1, 15)
				break
			}
		}
	}
	if d.added.Add(1)%d.sample == 0 {
		d.fade()
	}
	return est
}

// fade halves every counter: a key's demand counts requests of about the
// last sample, the older ones by half each sample back.
func (d *Demand) fade() {
	if !d.halving.CompareAndSwap(false, true) {
		return
	}
	defer d.halving.Store(false)
	const keep = 0x7777777777777777 // each counter's low three bits after the shift
	for i := range d.words {
		for {
			old := d.words[i].Load()
			if d.words[i].CompareAndSwap(old, old>>1&keep) {
				break
			}
		}
	}
}
