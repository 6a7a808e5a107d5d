// Package gateway is the load-shedding gateway: the request path, its
// admin endpoints, and the process's life around them.
//
// The request path (handle, in handler.go, top to bottom) refuses at the
// edge what no upstream may see, matches the route (a tree by path
// segment, first match in config order), validates its parameters,
// answers a fresh cache hit at once, applies the key's rate, coalesces
// identical misses into one flight, waits for admission in the route's
// priority class under the adaptive limit, sends to the route's upstream
// pool, stores what may be cached, invalidates what a 2xx makes obsolete,
// and answers a shed request with 503 and Retry-After (or a stale copy).
// A cache hit and a rejection allocate nothing (allocation_test.go).
//
// Around it: the admin listener (/metrics in Prometheus's exposition
// format, /status, /reload, the operator's page, the probes), an optional
// probe listener (/healthz and /readyz alone), live reloads that switch the
// whole compiled config atomically, a drain that turns /readyz to 503 and
// keeps serving for server.drain_delay before the listeners close, and,
// with cache.shared, a fleet's shared cache and invalidations in Redis.
//
// It owns HTTP: the packages it builds on (limiter, cache, sharedcache,
// flight, upstream, configs) know nothing of the request path, and it
// never reaches into the load-test harness or the simulated issuer.
package gateway

import (
	"crypto/rand"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"shedgate/cache"
	"shedgate/configs"
	"shedgate/flight"
	"shedgate/internal/deadlines"
	"shedgate/keycheck"
	"shedgate/limiter"
	"shedgate/upstream"
)

// Options are the gateway's dependencies. Zero values mean defaults.
type Options struct {
	// Logger receives operational logs. Default: a no-op logger.
	Logger *zap.Logger
	// AccessLog receives one entry per request it samples; build it with a
	// sampling core so that a surge does not become a log flood.
	// Default: no access log.
	AccessLog *zap.Logger
	// LogKey keys the hash that stands in for identity keys in logs.
	// Default: 32 random bytes, so hashes are comparable within one run only.
	LogKey []byte
	// Load reads the config again for Reload. Default: configs.Load of
	// the first config's path. (cmd/gateway wraps it to re-apply its
	// command-line overrides.)
	Load func() (*configs.Config, error)
}

// Gateway is one running gateway. Its methods are safe for concurrent use.
type Gateway struct {
	log     *zap.Logger
	access  *zap.Logger
	keyHash *keyHasher
	ids     *requestIDs
	metrics *metricsRegistry
	state   atomic.Pointer[state]
	cache   *cache.Cache
	limiter *limiter.Limiter
	// demand ranks the misses of cached routes for the admission level.
	demand  *limiter.Demand
	flights flight.Group[answer]
	gens    generations
	// fleet is the shared cache of a fleet of gateways; nil without one.
	fleet *fleet
	// coalesced counts requests answered by joining another's flight.
	coalesced atomic.Uint64
	// privateRefetches counts waiters of a flight whose answer was
	// private or for another variant, who then fetched their own.
	privateRefetches atomic.Uint64
	notStored        notStored
	outcomes         outcomes
	accessSample     sampler
	// deadlines enforces the public connections' read, idle and write
	// timeouts by a sweep instead of a runtime timer per request.
	deadlines *deadlines.Sweeper
	conns     connCap
	draining  atomic.Bool
	stop      chan struct{} // closed by Shutdown
	started   time.Time

	server *fasthttp.Server
	admin  *fasthttp.Server
	probes *fasthttp.Server // nil without server.probe_listen; guarded by lns.mu
	lns    listeners
	// lastPauseLog throttles the log of accept pauses (Unix nanoseconds).
	lastPauseLog atomic.Int64
	reload       reloader
}

// state is everything derived from one config version. Each request runs
// under exactly one state, loaded once at its start.
type state struct {
	cfg      *configs.Config
	version  int
	loadedAt time.Time
	router   *router
	pools    map[string]*upstream.Pool
	tooLarge []byte // the 413 body, naming this version's limit
	trusted  []netip.Prefix
}

// route returns the route named name, or nil.
func (st *state) route(name string) *route {
	for _, rt := range st.router.routes {
		if rt.name == name {
			return rt
		}
	}
	return nil
}

// startPools exposes st's upstream targets in metrics and starts their
// health checks. It is called once st is in use.
func (g *Gateway) startPools(st *state) {
	for _, p := range st.pools {
		g.metrics.registerPool(p)
		p.Start()
	}
}

// route is one compiled config route.
type route struct {
	name     string
	methods  []string // nil matches any method (but TRACE and CONNECT: see edge.go)
	segments []configs.Segment
	key      []routeKeyPart
	pool     *upstream.Pool
	class    string
	timeout  time.Duration // 0: the upstream's timeout
	metrics  *routeMetrics
	cfg      *configs.Route

	cachePrefix string        // route name and a 0 byte: the cache key's prefix
	policy      *cache.Policy // nil: not cached
	coalesce    bool
	classIdx    int              // index of class in the limiter's classes
	perKey      *limiter.KeyRate // nil: no per-key rate
	rejects     *rejectBodies
	invalidates []string // cache key prefixes of the routes a 2xx invalidates

	idemKey   string // the request header that makes a retry safe; "" for none
	public    bool   // credentials do not make the answer private
	dropQuery bool   // the query string is removed before forwarding
	keyHost   bool   // Host is part of the variant
	checks    []paramCheck
}

// paramCheck validates one path parameter at the edge; bad is the 400
// body, which names the parameter, never its value.
type paramCheck struct {
	param int
	check keycheck.Check
	bad   []byte
}

// appendCacheKey appends the route's cache and flight key for key to dst.
func (r *route) appendCacheKey(dst, key []byte) []byte {
	return append(append(dst, r.cachePrefix...), key...)
}

// shared reports whether the route's answers go through an entry that
// other requests may share (cached or coalesced).
func (r *route) shared() bool { return r.policy != nil || r.coalesce }

// retrySafe reports whether sending req again cannot act twice: the route
// is idempotent, or req carries the route's idempotency key.
func (r *route) retrySafe(h *fasthttp.RequestHeader) bool {
	return r.cfg.Idempotent || r.idemKey != "" && len(h.Peek(r.idemKey)) > 0
}

// attemptTimeout is the route's per-attempt timeout.
func (r *route) attemptTimeout() time.Duration {
	if r.timeout > 0 {
		return r.timeout
	}
	return r.pool.Timeout()
}

func cachePrefix(route string) string { return route + "\x00" }

func cachePolicy(rc *configs.RouteCache) *cache.Policy {
	if rc == nil {
		return nil
	}
	p := &cache.Policy{MaxTTL: rc.MaxTTL, StaleFor: rc.StaleFor}
	if ttl, ok := rc.FixedTTL(); ok {
		p.FixedTTL = ttl
	}
	return p
}

// New builds a gateway for cfg. It listens on nothing until Serve.
func New(cfg *configs.Config, opts Options) (*Gateway, error) {
	g := &Gateway{
		log:       opts.Logger,
		access:    opts.AccessLog,
		metrics:   newMetricsRegistry(),
		started:   time.Now(),
		stop:      make(chan struct{}),
		deadlines: deadlines.New(deadlineSweep),
	}
	if g.log == nil {
		g.log = zap.NewNop()
	}
	key := opts.LogKey
	if len(key) == 0 {
		key = randomBytes(32)
	}
	g.keyHash = newKeyHasher(key)
	g.ids = newRequestIDs()
	c, err := cache.New(cache.Config{MaxBytes: int(cfg.Cache.MaxBytes), PersistPath: cfg.Cache.PersistPath})
	if err != nil {
		return nil, err
	}
	g.cache = c
	if err := c.LoadProblem(); err != nil {
		g.log.Warn("cache snapshot unreadable: starting cold", zap.Error(err))
	}
	g.demand = limiter.NewDemand(limiter.DemandCounters)
	lc := limiterConfig(&cfg.Limiter)
	if cfg.Cache.Shared != nil {
		lc.OnLoss = g.shedSignal // tells the fleet (see fleet.go)
	}
	if g.limiter, err = limiter.New(lc); err != nil {
		return nil, err
	}
	g.metrics.set.RegisterMetricsWriter(g.writeCacheMetrics)
	g.metrics.set.RegisterMetricsWriter(g.writeLimiterMetrics)
	g.metrics.set.RegisterMetricsWriter(g.writeReloadMetrics)
	g.metrics.set.RegisterMetricsWriter(g.writeConnMetrics)
	st, err := g.compile(cfg, 1, nil)
	if err != nil {
		return nil, err
	}
	g.state.Store(st)
	if err := g.startFleet(cfg.Cache.Shared); err != nil {
		return nil, err
	}
	g.startPools(st)
	g.reload.lastSuccess.Store(g.started.Unix())
	g.reload.load = opts.Load
	if g.reload.load == nil {
		path := cfg.Path
		g.reload.load = func() (*configs.Config, error) { return configs.Load(path) }
	}
	g.conns.max = maxConns(cfg)
	g.server = g.newServer(cfg)
	g.admin = &fasthttp.Server{
		Handler:               g.serveAdmin,
		Logger:                newServerLog(g.log, g.keyHash, "admin", g.metrics.set),
		SecureErrorLogMessage: true,
		Name:                  "shedgate-admin",
		ReadTimeout:           5 * time.Second,
		WriteTimeout:          5 * time.Second,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
	}
	return g, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
	return b
}

func (g *Gateway) newServer(cfg *configs.Config) *fasthttp.Server {
	s := cfg.Server
	return &fasthttp.Server{
		Handler:                       g.handle,
		HeaderReceived:                g.requestConfig,
		ErrorHandler:                  g.serverError,
		Logger:                        newServerLog(g.log, g.keyHash, "public", g.metrics.set),
		SecureErrorLogMessage:         true,
		ReadTimeout:                   s.ReadTimeout,
		WriteTimeout:                  s.WriteTimeout,
		IdleTimeout:                   s.IdleTimeout,
		ConnState:                     g.connState,
		ReduceMemoryUsage:             s.ReduceMemory,
		ReadBufferSize:                s.MaxHeaderBytes,
		MaxRequestBodySize:            s.MaxBodyBytes,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		CloseOnShutdown:               true,
		Concurrency:                   1 << 20,
		LazyRequestTime:               true,  // the handler reads the clock once itself
		DisableHeaderNamesNormalizing: false, // hop-by-hop stripping relies on canonical names
	}
}

// compile builds the state for one config version, keeping prev's
// upstream targets where they are unchanged; prev may be nil.
func (g *Gateway) compile(cfg *configs.Config, version int, prev *state) (*state, error) {
	st := &state{cfg: cfg, version: version, loadedAt: time.Now(), pools: map[string]*upstream.Pool{},
		tooLarge: bodyTooLarge(cfg.Server.MaxBodyBytes)}
	for _, p := range cfg.Server.TrustedProxies {
		prefix, err := configs.ParsePrefix(p)
		if err != nil {
			return nil, err
		}
		st.trusted = append(st.trusted, prefix)
	}
	for _, name := range cfg.UpstreamNames() {
		u := cfg.Upstreams[name]
		var prevPool *upstream.Pool
		if prev != nil {
			prevPool = prev.pools[name]
		}
		p, err := upstream.NewPoolFrom(prevPool, upstream.Config{
			Name: name, Targets: u.Targets, Timeout: u.Timeout, MaxConnsPerTarget: u.MaxConnsPerTarget,
			Health: upstream.Health(u.Health), Outlier: upstream.Outlier(u.Outlier),
			Retry: upstream.Retry(u.Retry), DeadlineHeader: u.DeadlineHeader,
		})
		if err != nil {
			return nil, err
		}
		st.pools[name] = p
	}
	st.router = &router{}
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		var prevRoute *route
		if prev != nil {
			prevRoute = prev.route(rc.Name)
		}
		rt, err := g.compileRoute(cfg, rc, st.pools, prevRoute)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", rc.Name, err)
		}
		st.router.add(rt)
	}
	return st, nil
}

func (g *Gateway) compileRoute(cfg *configs.Config, rc *configs.Route, pools map[string]*upstream.Pool, prev *route) (*route, error) {
	// configs parsed and checked the templates (Load and Parse fill
	// Template and KeyTemplate); the gateway only indexes them.
	tpl := rc.Template
	key := compileKey(rc.KeyTemplate, tpl)
	pool := pools[rc.Upstream]
	if pool == nil {
		return nil, fmt.Errorf("unknown upstream %q", rc.Upstream)
	}
	rt := &route{
		name: rc.Name, methods: rc.MethodList(), segments: tpl.Segments, key: key,
		pool: pool, class: rc.Class, timeout: rc.Timeout,
		metrics: g.metrics.route(rc.Name, rc.Class), cfg: rc,
		cachePrefix: cachePrefix(rc.Name), policy: cachePolicy(rc.Cache), coalesce: rc.Coalesce,
		classIdx: cfg.ClassIndex(rc.Class), perKey: keyRate(rc, prev), rejects: newRejectBodies(rc.Class),
	}
	if rt.classIdx < 0 {
		return nil, fmt.Errorf("unknown class %q", rc.Class)
	}
	rt.public, rt.dropQuery, rt.keyHost = rc.Public, rc.Query == configs.QueryDrop, rc.Host != configs.HostIgnore
	rt.idemKey = rc.IdempotencyKey
	params := tpl.Params()
	for _, name := range slices.Sorted(maps.Keys(rc.Validate)) {
		pc := paramCheck{param: indexOf(params, name),
			bad: []byte(`{"error":"bad request: malformed path parameter ` + name + `"}`)}
		re, err := configs.ParseValidator(rc.Validate[name])
		switch {
		case err != nil:
			return nil, err
		case re != nil:
			pc.check = keycheck.Pattern(re)
		default:
			var ok bool
			if pc.check, ok = keycheck.Named(rc.Validate[name]); !ok {
				return nil, fmt.Errorf("validate.%s: no validator %q", name, rc.Validate[name])
			}
		}
		if pc.param < 0 {
			return nil, fmt.Errorf("validate.%s: no such parameter", name)
		}
		rt.checks = append(rt.checks, pc)
	}
	for _, name := range rc.Invalidates {
		rt.invalidates = append(rt.invalidates, cachePrefix(name))
	}
	return rt, nil
}
