package gateway

import (
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// generations closes the race between an invalidation and a fetch already
// in flight: a fetch notes the generation of its cache key when it starts
// and stores its answer only if no invalidation bumped it meanwhile.
// Keys share slots by hash; a shared slot only costs a skipped store.
type generations struct {
	slots [1 << 12]atomic.Uint64
}

func (g *generations) slot(key []byte) *atomic.Uint64 {
	return &g.slots[xxhash.Sum64(key)&(uint64(len(g.slots))-1)]
}

// load returns key's current generation.
func (g *generations) load(key []byte) uint64 { return g.slot(key).Load() }

// bump invalidates fetches of key that started before it.
func (g *generations) bump(key []byte) { g.slot(key).Add(1) }
