// Package sharedcache is the second-level cache that several gateway
// processes share, in Redis (through rueidis): a local miss asks Redis
// before the backend, a backend answer is written to Redis with its
// lifetime, and an invalidation on one process reaches every other one.
//
// It stores opaque bytes (the gateway's encoded cache entries) under the
// caller's keys, and knows no HTTP.
//
// # Redis is never on the critical path
//
// Every call is bounded by Config.Timeout, and a breaker (Config.Failures
// failures in a row open it for Config.OpenFor, then one call probes)
// turns a slow or dead Redis into an immediate miss, so a process in
// trouble with Redis serves from its own cache and the backend. Nothing
// here blocks startup: the client connects in the background, retrying.
//
// # Invalidations
//
// Invalidate runs one script on Redis: it bumps the key's generation,
// deletes the shared entry and publishes the key on the invalidation
// channel, which every process subscribes to and hands to its OnInvalidate
// (the gateway evicts its local copy and forgets flights in progress). A
// write of a fetched answer (Fill) is conditional on the generation the
// lookup saw, so a fetch that started before an invalidation cannot put
// the old answer back, here or (the gateway skips its local store too)
// in the process that fetched it.
//
// A process hears invalidations only while its subscription is up. Trusted
// says which local entries a process may still serve as fresh:
//
//   - subscribed: entries stored locally since the subscription (re)started;
//     an entry from before a gap may have missed an invalidation, and is
//     served as stale (refetched, and served only if the refetch fails);
//   - not subscribed: an entry only for Config.LocalTTL after it was stored
//     or after the subscription was lost, whichever is later; so an
//     invalidation missed while Redis is unreachable is served for at most
//     LocalTTL. Before the first subscription the process has heard
//     nothing: an entry counts only from when it was stored, so one
//     loaded from a snapshot older than LocalTTL is stale.
//
// An invalidation that cannot reach Redis is kept (up to
// maxPendingInvalidations, the oldest dropped and counted) and sent when
// Redis answers again, so a process cut off from Redis alone does not leave
// the others serving the old answer from Redis afterwards.
package sharedcache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Defaults for a zero Config field; configs gives a gateway config the same.
const (
	DefaultTimeout  = 50 * time.Millisecond
	DefaultLocalTTL = 2 * time.Second
	DefaultFailures = 5
	DefaultOpenFor  = time.Second
	DefaultPrefix   = "shedgate:"
)

// maxPendingInvalidations bounds the invalidations kept while Redis is
// unreachable.
const maxPendingInvalidations = 10000

// generationTTL is how long Redis keeps a key's generation after its last
// invalidation: longer than any fetch may take, so that a fill can tell.
const generationTTL = time.Hour

// Config configures a Store. Zero values mean the defaults.
type Config struct {
	// Addrs are Redis addresses (host:port); one is enough. Required.
	Addrs []string
	// Timeout bounds each call to Redis. Default DefaultTimeout.
	Timeout time.Duration
	// LocalTTL is how long a local entry stays fresh while invalidations
	// cannot be heard. Default DefaultLocalTTL.
	LocalTTL time.Duration
	// Failures in a row open the breaker. Default DefaultFailures.
	Failures int
	// OpenFor is how long the open breaker answers every call with a
	// miss before one call probes Redis. Default DefaultOpenFor.
	OpenFor time.Duration
	// Prefix starts every key and the channel name, so that several
	// fleets can share one Redis. Default DefaultPrefix.
	Prefix string
	// OnInvalidate receives each invalidated key, from any process (this
	// one included). It must not block.
	OnInvalidate func(key []byte)
	// OnSignal receives each message another process sent with Signal,
	// and that process's id. It must not block. Default: ignored.
	OnSignal func(from, msg string)
	// OnError receives what went wrong talking to Redis (a lost
	// subscription, the breaker opening), for the log. Default: ignored.
	OnError func(msg string, err error)
}

// ErrUnavailable is returned, without a call to Redis, while the breaker
// is open or before the client has connected.
var ErrUnavailable = errors.New("sharedcache: redis unavailable")

// Stats are the counters of a Store.
type Stats struct {
	Hits, Misses, Errors, Unavailable uint64
	Fills, FillsRefused               uint64 // refused: an invalidation came first
	InvalidationsSent                 uint64
	InvalidationsReceived             uint64
	InvalidationsPending              uint64 // waiting for Redis
	InvalidationsDropped              uint64 // pending, dropped over the bound
	BreakerOpens                      uint64
	BreakerOpen                       bool
	Subscribed                        bool
	Resubscribes                      uint64
	SignalsSent, SignalsReceived      uint64 // Signal's messages
}

// Store is a shared cache on Redis. Its methods are safe for concurrent use.
type Store struct {
	cfg     Config
	channel string
	// signalChannel carries the fleet's signals, "<id> <msg>"; id tells
	// this process's own from the others'.
	signalChannel, id string
	client            atomic.Pointer[rueidis.Client]
	done              chan struct{}
	wg                sync.WaitGroup
	br                breaker

	// downSince is when the subscription was lost (Unix nanoseconds), 0
	// while it is up; trustedFrom is when it last came up.
	downSince, trustedFrom atomic.Int64
	everUp                 atomic.Bool

	pendingMu sync.Mutex
	pending   [][]byte

	hits, misses, errs, unavailable       atomic.Uint64
	fills, fillsRefused                   atomic.Uint64
	signalsSent, signalsReceived          atomic.Uint64
	sent, received, dropped, resubscribes atomic.Uint64
	pendingCount                          atomic.Uint64
}

// New returns a Store and starts connecting to Redis in the background.
func New(cfg Config) (*Store, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("sharedcache: no redis address")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.LocalTTL <= 0 {
		cfg.LocalTTL = DefaultLocalTTL
	}
	if cfg.Failures <= 0 {
		cfg.Failures = DefaultFailures
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = DefaultOpenFor
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.OnInvalidate == nil {
		cfg.OnInvalidate = func([]byte) {}
	}
	if cfg.OnError == nil {
		cfg.OnError = func(string, error) {}
	}
	if cfg.OnSignal == nil {
		cfg.OnSignal = func(string, string) {}
	}
	s := &Store{cfg: cfg, channel: cfg.Prefix + "invalidate", signalChannel: cfg.Prefix + "signal",
		id: fmt.Sprintf("%x", time.Now().UnixNano()), done: make(chan struct{})}
	s.br.failures, s.br.openFor = int32(cfg.Failures), cfg.OpenFor
	// Down since the beginning of time: until the subscription is up, an
	// entry is trusted only within LocalTTL of when it was stored, so that
	// one loaded from a snapshot, stored before this process could hear any
	// invalidation, is never served as fresh (TestRevokedCodeStaysRevokedInAFleet).
	s.downSince.Store(1)
	s.wg.Add(2)
	go s.run()
	go s.flushLoop()
	return s, nil
}

// Close stops the background work and closes the connections.
func (s *Store) Close() {
	close(s.done)
	s.wg.Wait()
	if c := s.client.Load(); c != nil {
		(*c).Close()
	}
}

// run connects, then keeps the invalidation subscription up, until Close.
func (s *Store) run() {
	defer s.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		c := s.client.Load()
		if c == nil {
			nc, err := rueidis.NewClient(rueidis.ClientOption{
				InitAddress:      s.cfg.Addrs,
				DisableCache:     true,
				Dialer:           net.Dialer{Timeout: time.Second},
				ConnWriteTimeout: max(time.Second, s.cfg.Timeout),
			})
			if err == nil {
				s.client.Store(&nc)
				continue
			}
			s.cfg.OnError("connect", err)
		} else if err := s.subscribe(*c); err != nil {
			s.cfg.OnError("invalidation subscription lost", err)
		} else {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-s.done:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// subscribe holds one subscription to the invalidation channel until it
// breaks or Close; it returns nil only at Close.
func (s *Store) subscribe(c rueidis.Client) error {
	dc, release := c.Dedicate()
	defer release()
	wait := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) {
			if m.Channel == s.signalChannel {
				if id, msg, ok := strings.Cut(m.Message, " "); ok && id != s.id {
					s.signalsReceived.Add(1)
					s.cfg.OnSignal(id, msg)
				}
				return
			}
			s.received.Add(1)
			s.cfg.OnInvalidate([]byte(m.Message))
		},
		OnSubscription: func(sub rueidis.PubSubSubscription) {
			if sub.Kind == "subscribe" {
				s.up()
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), max(time.Second, s.cfg.Timeout))
	err := dc.Do(ctx, dc.B().Subscribe().Channel(s.channel, s.signalChannel).Build()).Error()
	cancel()
	if err == nil {
		select {
		case err = <-wait:
		case <-s.done:
		}
	}
	s.down()
	select {
	case <-s.done:
		return nil
	default:
	}
	if err == nil {
		err = errors.New("subscription ended")
	}
	return err
}

func (s *Store) up() {
	now := time.Now().UnixNano()
	s.trustedFrom.Store(now)
	s.br.success() // Redis answers: no need to wait for the breaker's probe
	before := s.everUp.Swap(true)
	if s.downSince.Swap(0) != 0 && before {
		s.resubscribes.Add(1)
	}
}

func (s *Store) down() { s.downSince.CompareAndSwap(0, time.Now().UnixNano()) }

// Trusted reports whether a local entry stored at storedAt (Unix
// nanoseconds) may be served as fresh at now (see the package doc). It
// allocates nothing.
func (s *Store) Trusted(storedAt int64, now time.Time) bool {
	if down := s.downSince.Load(); down != 0 {
		return now.UnixNano() < max(storedAt, down)+int64(s.cfg.LocalTTL)
	}
	return storedAt >= s.trustedFrom.Load()
}

func (s *Store) valueKey(key []byte) string {
	return s.cfg.Prefix + "c:{" + string(key) + "}"
}

func (s *Store) genKey(key []byte) string {
	return s.cfg.Prefix + "g:{" + string(key) + "}"
}

func (s *Store) demandKey(key []byte) string {
	return s.cfg.Prefix + "d:{" + string(key) + "}"
}

// call returns the client when the breaker lets a call through.
func (s *Store) call() (rueidis.Client, error) {
	c := s.client.Load()
	if c == nil || !s.br.allow(time.Now()) {
		s.unavailable.Add(1)
		return nil, ErrUnavailable
	}
	return *c, nil
}

// result feeds the breaker with a call's outcome; a Redis error reply
// (the server answered) counts as success for the breaker.
func (s *Store) result(err error) error {
	var re *rueidis.RedisError
	if err == nil || errors.As(err, &re) {
		s.br.success()
		return err
	}
	s.errs.Add(1)
	if s.br.failure(time.Now()) {
		s.cfg.OnError("breaker open", err)
	}
	return err
}

// Found is what Get found under a key.
type Found struct {
	// Val is the stored value; nil when none.
	Val []byte
	// Gen is the key's generation, which a later Fill of the key hands
	// back.
	Gen string
	// Demand counts the lookups of the key by every process of the fleet
	// (this one included) in the demandWindow since its first: how often
	// the fleet missed it locally, to rank its fetch for admission.
	Demand int64
}

// demandWindow is how long the fleet's count of a key's lookups runs.
const demandWindow = time.Minute

// lookupScript reads a key's value and generation and, when ARGV[2] is
// 1, counts the lookup.
var lookupScript = rueidis.NewLuaScript(`
local d
if ARGV[2] == '1' then
  d = redis.call('INCR', KEYS[3])
  if d == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[1]) end
else
  d = tonumber(redis.call('GET', KEYS[3]) or '0')
end
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), d}`)

// Get returns what is stored under key, and counts the lookup in the
// fleet's demand for it when count (a process's first lookup for one
// local miss; not its second look after waiting for admission).
func (s *Store) Get(key []byte, count bool) (Found, error) {
	c, err := s.call()
	if err != nil {
		return Found{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	vals, err := lookupScript.Exec(ctx, c, []string{s.valueKey(key), s.genKey(key), s.demandKey(key)},
		[]string{fmt.Sprint(demandWindow.Milliseconds()), countArg[count]}).ToArray()
	if err = s.result(err); err != nil {
		return Found{}, err
	}
	if len(vals) != 3 {
		return Found{}, fmt.Errorf("sharedcache: lookup answered %d values", len(vals))
	}
	var f Found
	f.Gen, _ = vals[1].ToString() // nil: generation ""
	f.Demand, _ = vals[2].AsInt64()
	v, verr := vals[0].AsBytes()
	if verr != nil || len(v) == 0 {
		s.misses.Add(1)
		return f, nil
	}
	s.hits.Add(1)
	f.Val = v
	return f, nil
}

var countArg = map[bool]string{true: "1", false: "0"}

// fillScript stores a value only if the key's generation is still the one
// its lookup saw.
var fillScript = rueidis.NewLuaScript(`
local g = redis.call('GET', KEYS[2])
if (g or '') ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1`)

// ErrInvalidated is Fill's answer when an invalidation of the key came
// after the lookup that gave gen: the value is obsolete.
var ErrInvalidated = errors.New("sharedcache: invalidated since the lookup")

// Fill stores val under key for ttl, unless key was invalidated since the
// Get that returned gen (ErrInvalidated).
func (s *Store) Fill(key, val []byte, gen string, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return nil
	}
	c, err := s.call()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	n, err := fillScript.Exec(ctx, c, []string{s.valueKey(key), s.genKey(key)},
		[]string{string(val), gen, fmt.Sprint(ttl.Milliseconds())}).AsInt64()
	if err = s.result(err); err != nil {
		return err
	}
	if n == 0 {
		s.fillsRefused.Add(1)
		return ErrInvalidated
	}
	s.fills.Add(1)
	return nil
}

// invalidateScript makes a key's fetches in flight obsolete, drops its
// shared entry and tells every process.
var invalidateScript = rueidis.NewLuaScript(`
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[3])
return 1`)

// Invalidate drops key's shared entry and has every process drop its
// local one. When Redis cannot be reached the invalidation is kept and
// sent once it can (see the package doc); the error says it is late.
func (s *Store) Invalidate(key []byte) error {
	if err := s.invalidate(key); err != nil {
		s.keep(key)
		return err
	}
	return nil
}

func (s *Store) invalidate(key []byte) error {
	c, err := s.call()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	err = invalidateScript.Exec(ctx, c, []string{s.valueKey(key), s.genKey(key)},
		[]string{s.channel, fmt.Sprint(generationTTL.Milliseconds()), string(key)}).Error()
	if err = s.result(err); err != nil {
		return err
	}
	s.sent.Add(1)
	return nil
}

func (s *Store) keep(key []byte) {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	if len(s.pending) >= maxPendingInvalidations {
		s.pending = s.pending[1:]
		s.dropped.Add(1)
	}
	s.pending = append(s.pending, append([]byte(nil), key...))
	s.pendingCount.Store(uint64(len(s.pending)))
}

// flushLoop sends the kept invalidations while subscribed, until Close.
func (s *Store) flushLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			if s.pendingCount.Load() > 0 && s.downSince.Load() == 0 {
				s.flushPending()
			}
		}
	}
}

// flushPending sends the invalidations kept while Redis was unreachable,
// oldest first, until one fails again.
func (s *Store) flushPending() {
	for {
		s.pendingMu.Lock()
		if len(s.pending) == 0 {
			s.pendingMu.Unlock()
			return
		}
		key := s.pending[0]
		s.pending = s.pending[1:]
		s.pendingMu.Unlock()
		err := s.invalidate(key)
		s.pendingMu.Lock()
		if err != nil {
			s.pending = append([][]byte{key}, s.pending...)
		}
		s.pendingCount.Store(uint64(len(s.pending)))
		s.pendingMu.Unlock()
		if err != nil {
			return
		}
	}
}

// Signal sends msg to the other processes' OnSignal (the gateway's fleet
// tells the others which class it sheds and what limit it found). It waits
// for Redis at most Config.Timeout; the caller bounds how often.
func (s *Store) Signal(msg string) error {
	c, err := s.call()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	err = c.Do(ctx, c.B().Publish().Channel(s.signalChannel).Message(s.id+" "+msg).Build()).Error()
	if err = s.result(err); err != nil {
		return err
	}
	s.signalsSent.Add(1)
	return nil
}

// Stats returns the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Hits: s.hits.Load(), Misses: s.misses.Load(), Errors: s.errs.Load(), Unavailable: s.unavailable.Load(),
		Fills: s.fills.Load(), FillsRefused: s.fillsRefused.Load(),
		InvalidationsSent: s.sent.Load(), InvalidationsReceived: s.received.Load(),
		InvalidationsPending: s.pendingCount.Load(), InvalidationsDropped: s.dropped.Load(),
		BreakerOpens: s.br.opens.Load(), BreakerOpen: s.br.open(time.Now()),
		Subscribed:   s.downSince.Load() == 0,
		Resubscribes: s.resubscribes.Load(),
		SignalsSent:  s.signalsSent.Load(), SignalsReceived: s.signalsReceived.Load(),
	}
}
