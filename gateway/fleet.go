package gateway

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"go.uber.org/zap"

	"shedgate/cache"
	"shedgate/configs"
	"shedgate/sharedcache"
)

// What a fleet of gateways shares, and what stays per process.
//
// Shared, through Redis (cache.shared, package sharedcache): cached
// answers, as a second level behind each process's own cache, and
// invalidations. A local miss on a cached route asks Redis, inside the
// key's flight and before admission (an answer another process fetched
// costs no backend slot); a fetched answer is written to Redis with its
// freshness; a 2xx on a route that invalidates reaches every process.
//
// Per process, by design: coalescing (a flight is a goroutine's wait,
// and a cross-process lock would put Redis on every miss's critical
// path), per-key rates (each process limits what it sends; N processes
// allow N times the rate), and the adaptive limit (each process measures
// the backend's answers to its own requests, which is what lets N of them
// share one backend without coordination: each backs off when the
// backend's round trip grows).
//
// One admission signal crosses the fleet: when a request of class c loses
// in a queue after the level admitted it, this gateway sheds every lower
// class at once (strict priority, see limiter/doc.go), and tells the
// others, which do the same (DAGOR's upstream propagation of the
// admission level, reduced to its strict-priority event). Without it, a
// lower class was served at one gateway while another lost a check-in.
// Signals are throttled to one per class per shedSignalEvery.
//
// And each gateway's share of the backend is kept near the others': every
// limitSignalEvery a gateway sends the limit its controller found and its
// admission level, holds its own limit at least limitFloorShare of the
// others' mean (Limiter.SetFloor), and, while another gateway admits some
// of a class, keeps every class above it whole (Limiter.HoldAbove: a
// gateway's level cuts into a class only when no gateway serves a lower
// one). Found independently, the limits drifted apart: in two of five
// surges one gateway's sank to 1-2 while the others held 4-6, and it lost
// its third of the check-ins (75-81% served; 97.9-99.9% in five runs
// with the floor, 100% in five more once levels were held too).
type fleet struct {
	// peers are the other gateways' last limits, by id.
	peersMu sync.Mutex
	peers   map[string]peerLimit

	// sig carries the classes to signal to the publisher goroutine;
	// lastShed throttles them (Unix nanoseconds, per class).
	sig      chan int
	lastShed [maxSignalClasses]atomic.Int64

	store *sharedcache.Store
	// untrusted counts local hits served as stale because an invalidation
	// may have been missed (see sharedcache.Store.Trusted).
	untrusted atomic.Uint64
	// hits counts requests answered from Redis; rechecks those of them
	// found by a second look after waiting for admission.
	hits, rechecks atomic.Uint64
}

// recheckAfter: a miss that waited this long for a slot asks Redis again
// before calling the backend (see prepareFetch).
const recheckAfter = 2 * time.Millisecond

const (
	maxSignalClasses = 64
	shedSignalEvery  = 20 * time.Millisecond
	limitSignalEvery = 100 * time.Millisecond
	// levelFresh: a peer's level older than this no longer holds ours.
	levelFresh      = 3 * limitSignalEvery
	limitFloorShare = 0.8
)

// peerLimit is another gateway's last limit and admission level, and
// when they came.
type peerLimit struct {
	limit int
	level int64
	conns int // public connections open; -1: not reported
	at    time.Time
}

// shedSignal is the limiter's OnLoss: it hands class c to the publisher,
// at most once per shedSignalEvery, without blocking the request path.
func (g *Gateway) shedSignal(c int) {
	f := g.fleet
	if f == nil || c < 0 || c >= maxSignalClasses {
		return
	}
	now := time.Now().UnixNano()
	last := f.lastShed[c].Load()
	if now-last < int64(shedSignalEvery) || !f.lastShed[c].CompareAndSwap(last, now) {
		return
	}
	select {
	case f.sig <- c:
	default:
	}
}

// signals sends this gateway's shed signals and, every
// limitSignalEvery, its limit to the fleet, and sets its limit's floor
// from the others', until stop. Sends fail only when Redis does
// (counted); the next one tries again.
func (g *Gateway) signals(stop <-chan struct{}) {
	tick := time.NewTicker(limitSignalEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case c := <-g.fleet.sig:
			if classes := g.state.Load().cfg.Limiter.Classes; c < len(classes) {
				g.fleet.store.Signal("S " + classes[c].Name) //nolint:errcheck
			}
		case now := <-tick.C:
			conns := g.deadlines.Len()
			g.fleet.store.Signal("L " + strconv.Itoa(g.limiter.OwnLimit()) + " " + //nolint:errcheck
				strconv.FormatInt(g.limiter.Level(), 10) + " " + strconv.Itoa(conns))
			limit, level, peerConns, n := g.fleet.fromPeers(now)
			g.limiter.SetFloor(limit)
			g.limiter.HoldAbove(level)
			g.conns.closeShare.Store(rebalanceShare(conns, peerConns, n))
		}
	}
}

// fromPeers returns limitFloorShare of the mean limit of the gateways
// heard from in the last second (0 when none), the highest admission
// level those heard from in the last levelFresh reported (-1 when none),
// and the public connections those that report them hold, and how many do.
func (f *fleet) fromPeers(now time.Time) (floor int, level int64, conns, nconns int) {
	f.peersMu.Lock()
	defer f.peersMu.Unlock()
	var sum, n int
	level = -1
	for id, p := range f.peers {
		age := now.Sub(p.at)
		if age > time.Second {
			delete(f.peers, id)
			continue
		}
		sum, n = sum+p.limit, n+1
		if age <= levelFresh && p.level >= 0 {
			level = max(level, p.level)
		}
		if p.conns >= 0 {
			conns, nconns = conns+p.conns, nconns+1
		}
	}
	if n > 0 {
		floor = int(limitFloorShare * float64(sum) / float64(n))
	}
	return floor, level, conns, nconns
}

// rebalanceShare is the share, in thousandths, of this gateway's
// connections to close after their next answer so that clients reconnect
// and the balancer or the kernel (reuse_port) spreads them: the excess of
// mine over the fleet's mean, while mine is above rebalanceAbove of it;
// else 0. A gateway that joins a fleet of busy ones so gets its share of
// their keep-alive clients, and one that took a drained peer's clients
// hands some on (TestFleetRebalancesConnections).
func rebalanceShare(mine, peers, npeers int) int64 {
	if npeers == 0 || mine == 0 {
		return 0
	}
	mean := float64(mine+peers) / float64(npeers+1)
	if float64(mine) <= rebalanceAbove*mean {
		return 0
	}
	return int64(1000 * (1 - mean/float64(mine)))
}

// rebalanceAbove: connections above this multiple of the fleet's mean
// are handed on.
const rebalanceAbove = 1.2

// fromFleet applies another gateway's signal: "S class" (it sheds class:
// shed below it here too) or "L n" (its limit).
func (g *Gateway) fromFleet(id, msg string) {
	kind, arg, _ := strings.Cut(msg, " ")
	switch kind {
	case "S":
		if c := g.state.Load().cfg.ClassIndex(arg); c >= 0 {
			g.limiter.ShedBelow(c)
		}
	case "L":
		f := strings.Fields(arg)
		level, conns := int64(-1), -1 // a gateway that does not send them
		if len(f) > 1 {
			if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				level = v
			}
		}
		if len(f) > 2 {
			if v, err := strconv.Atoi(f[2]); err == nil {
				conns = v
			}
		}
		if len(f) == 0 {
			return // a malformed signal: nothing to learn from it
		}
		if n, err := strconv.Atoi(f[0]); err == nil && n > 0 {
			g.fleet.peersMu.Lock()
			g.fleet.peers[id] = peerLimit{limit: n, level: level, conns: conns, at: time.Now()}
			g.fleet.peersMu.Unlock()
		}
	}
}

// xCacheShared marks an answer another process of the fleet fetched.
var xCacheShared = []byte("HIT-SHARED")

// startFleet connects the gateway to its fleet's shared cache, when the
// config has one.
func (g *Gateway) startFleet(sh *configs.SharedCache) error {
	if sh == nil {
		return nil
	}
	store, err := sharedcache.New(sharedcache.Config{
		Addrs: sh.Redis, Timeout: sh.Timeout, LocalTTL: sh.LocalTTL,
		Failures: sh.BreakerFailures, OpenFor: sh.BreakerOpen, Prefix: sh.Prefix,
		OnInvalidate: g.invalidateLocal,
		OnSignal:     g.fromFleet,
		OnError: func(msg string, err error) {
			g.log.Warn("shared cache: "+msg+"; serving from the local cache and the backend", zap.Error(err))
		},
	})
	if err != nil {
		return err
	}
	g.fleet = &fleet{store: store, sig: make(chan int, 8), peers: map[string]peerLimit{}}
	go g.signals(g.stop)
	g.metrics.set.RegisterMetricsWriter(g.writeFleetMetrics)
	return nil
}

// invalidateLocal drops this process's entry for ckey and makes fetches
// of it in flight neither store nor share their answer.
func (g *Gateway) invalidateLocal(ckey []byte) {
	g.gens.bump(ckey)
	g.flights.Forget(ckey)
	g.cache.Del(ckey)
}

// trusts reports whether a fresh local entry may be served as a hit: only
// if no invalidation of it can have been missed.
func (f *fleet) trusts(e *cache.Entry, now time.Time) bool {
	if f.store.Trusted(e.LocalAt, now) {
		return true
	}
	f.untrusted.Add(1)
	return false
}

// sharedLookup asks the fleet's cache for ckey. It returns a fresh entry
// of the same variant (stored locally too, unless an invalidation came
// meanwhile), or what a fetch needs: the key's generation for a later
// sharedFill, and how often the fleet missed the key, to rank the fetch
// (limiter.Demand.UserWith). fill.ok is false when Redis could not be
// asked.
func (g *Gateway) sharedLookup(ckey, variant []byte, gen uint64, count bool) (e *cache.Entry, fill sharedFill, demand int64) {
	f, err := g.fleet.store.Get(ckey, count)
	if err != nil {
		return nil, sharedFill{}, 0
	}
	fill, demand = sharedFill{gen: f.Gen, ok: true}, f.Demand
	val := f.Val
	if val == nil {
		return nil, fill, demand
	}
	e = new(cache.Entry)
	now := time.Now()
	// An entry with Vary is left to the backend: which request headers
	// it needs is known only to the process that stored it.
	if e.Unmarshal(val) != nil || !bytes.Equal(e.Variant, variant) || len(e.Vary) > 0 || !e.Fresh(now) {
		return nil, fill, demand
	}
	g.fleet.hits.Add(1)
	e.LocalAt = now.UnixNano()
	if g.gens.load(ckey) == gen {
		g.cache.Set(nil, ckey, e)
	}
	return e, fill, demand
}

// sharedFill writes a fetched entry to the fleet's cache, fresh until
// freshUntil, unless the key was invalidated since the lookup that gave
// sgen; it reports whether the entry may still be stored locally.
func (g *Gateway) sharedFill(ckey []byte, e *cache.Entry, sgen string, now time.Time) bool {
	err := g.fleet.store.Fill(ckey, e.Marshal(nil), sgen, time.Duration(e.FreshUntil-now.UnixNano()))
	return !errors.Is(err, sharedcache.ErrInvalidated)
}

// FleetStatus is the shared cache's part of /status.
type FleetStatus struct {
	// Subscribed: invalidations from the other processes are heard.
	Subscribed  bool   `json:"subscribed"`
	BreakerOpen bool   `json:"breaker_open"`
	Hits        uint64 `json:"hits"`
	// RecheckHits: of the hits, those found by a second look after the
	// miss waited for admission (another gateway fetched it meanwhile).
	RecheckHits uint64 `json:"recheck_hits"`
	Misses      uint64 `json:"misses"`
	Errors      uint64 `json:"errors"`
	// Unavailable counts calls not made: breaker open, or not connected.
	Unavailable           uint64 `json:"unavailable"`
	Fills                 uint64 `json:"fills"`
	FillsRefused          uint64 `json:"fills_refused"`
	InvalidationsSent     uint64 `json:"invalidations_sent"`
	InvalidationsReceived uint64 `json:"invalidations_received"`
	InvalidationsPending  uint64 `json:"invalidations_pending"`
	// Untrusted counts local hits served as stale after invalidations
	// may have been missed.
	Untrusted uint64 `json:"untrusted"`
}

func (g *Gateway) fleetStatus() *FleetStatus {
	if g.fleet == nil {
		return nil
	}
	s := g.fleet.store.Stats()
	return &FleetStatus{Subscribed: s.Subscribed, BreakerOpen: s.BreakerOpen, Hits: g.fleet.hits.Load(),
		RecheckHits: g.fleet.rechecks.Load(), Misses: s.Misses, Errors: s.Errors, Unavailable: s.Unavailable, Fills: s.Fills, FillsRefused: s.FillsRefused,
		InvalidationsSent: s.InvalidationsSent, InvalidationsReceived: s.InvalidationsReceived,
		InvalidationsPending: s.InvalidationsPending, Untrusted: g.fleet.untrusted.Load()}
}

func (g *Gateway) writeFleetMetrics(w io.Writer) {
	s := g.fleet.store.Stats()
	b := func(v bool) uint64 {
		if v {
			return 1
		}
		return 0
	}
	metrics.WriteCounterUint64(w, "gateway_shared_cache_hits_total", g.fleet.hits.Load())
	metrics.WriteCounterUint64(w, "gateway_shared_cache_recheck_hits_total", g.fleet.rechecks.Load())
	metrics.WriteCounterUint64(w, "gateway_shared_cache_misses_total", s.Misses)
	metrics.WriteCounterUint64(w, "gateway_shared_cache_errors_total", s.Errors)
	metrics.WriteCounterUint64(w, "gateway_shared_cache_unavailable_total", s.Unavailable)
	metrics.WriteCounterUint64(w, "gateway_shared_cache_fills_total", s.Fills)
	metrics.WriteCounterUint64(w, "gateway_shared_cache_fills_refused_total", s.FillsRefused)
	metrics.WriteCounterUint64(w, "gateway_shared_cache_invalidations_sent_total", s.InvalidationsSent)
	metrics.WriteCounterUint64(w, "gateway_shared_cache_invalidations_received_total", s.InvalidationsReceived)
	metrics.WriteGaugeUint64(w, "gateway_shared_cache_invalidations_pending", s.InvalidationsPending)
	metrics.WriteCounterUint64(w, "gateway_shared_cache_invalidations_dropped_total", s.InvalidationsDropped)
	metrics.WriteCounterUint64(w, "gateway_shared_cache_breaker_opens_total", s.BreakerOpens)
	metrics.WriteGaugeUint64(w, "gateway_shared_cache_breaker_open", b(s.BreakerOpen))
	metrics.WriteGaugeUint64(w, "gateway_shared_cache_subscribed", b(s.Subscribed))
	metrics.WriteCounterUint64(w, "gateway_shared_cache_resubscribes_total", s.Resubscribes)
	metrics.WriteCounterUint64(w, "gateway_shared_cache_untrusted_hits_total", g.fleet.untrusted.Load())
	metrics.WriteCounterUint64(w, "gateway_fleet_signals_sent_total", s.SignalsSent)
	metrics.WriteCounterUint64(w, "gateway_fleet_signals_received_total", s.SignalsReceived)
}
