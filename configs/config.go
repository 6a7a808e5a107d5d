// Package configs is the schema of gateway.yaml, its strict loader and its
// validator.
//
// Load and Parse refuse, with the file, the line and the key path in every
// message, what an operator could get wrong: an unknown or duplicate key, a
// value of the wrong type, a bad duration, a route naming an unknown
// upstream, class or route, a bad path or key template, an impossible number.
// A *Config returned without error has every default applied and is
// internally consistent, so its users need no checks of their own.
//
// The package only describes configuration: it opens no sockets, starts
// nothing and imports no other package of the gateway.
package configs

import (
	"fmt"
	"sort"
	"time"

	"shedgate/cache"
	"shedgate/limiter"
	"shedgate/sharedcache"
	"shedgate/upstream"
)

// MinCacheBytes is the smallest cache.max_bytes accepted: fastcache never
// uses less memory than this, whatever it is asked for.
const MinCacheBytes = 32 << 20

// TTLUpstream is the value of a route's cache.ttl that takes each response's
// lifetime from its Cache-Control header.
const TTLUpstream = "upstream"

// Config is a parsed, defaulted and validated gateway.yaml.
//
// A *Config is immutable once Parse returns it; share it freely between
// goroutines, and load a new one to reload.
type Config struct {
	// Path is the file the config was loaded from, as given to Load or Parse.
	Path string `yaml:"-"`
	// Hash is the hex SHA-256 of the file's bytes.
	Hash string `yaml:"-"`

	Server Server `yaml:"server"`
	// Upstreams are the backend pools, by name. At least one is required.
	Upstreams map[string]*Upstream `yaml:"upstreams"`
	Limiter   Limiter              `yaml:"limiter"`
	Cache     Cache                `yaml:"cache"`
	// Routes are matched in order; the first match wins. At least one is
	// required.
	Routes []Route `yaml:"routes"`

	lines map[string]int // key path -> line, from the decoder
}

// RestartOnly lists the settings a running gateway cannot change: the
// public server's read buffer, the cache's memory and file and its Redis
// connection are set up at start. A reload that changes one is refused
// (see ErrorAt).
var RestartOnly = []string{"server.max_header_bytes", "server.probe_listen", "server.idle_timeout", "server.max_conns",
	"server.reduce_memory",
	"cache.max_bytes", "cache.persist_path", "cache.shared"}

// ErrorAt returns an error naming c's file, the line of key (or of its
// nearest ancestor present in the file) and key, for checks made after
// Load or Parse, such as a reload's comparison with the running config.
func (c *Config) ErrorAt(key, format string, args ...any) *Error {
	d := decoder{lines: c.lines}
	if d.lines == nil {
		d.lines = map[string]int{"": 1}
	}
	return &Error{File: c.Path, Line: d.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Server configures the public listener and the admin listener.
type Server struct {
	// Listen is the public host:port. Default ":8080".
	Listen string `yaml:"listen"`
	// AdminListen is the host:port of metrics, health, status and reload.
	// Default "127.0.0.1:9090" (loopback: never expose it).
	AdminListen string `yaml:"admin_listen"`
	// ReadTimeout bounds reading a whole request. Default 5s; must be > 0.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a whole response. Default 5s; must be > 0.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxHeaderBytes caps the request headers (431 above). Default 16384.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes caps the request body (413 above). Default 65536.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// DrainTimeout bounds the wait for in-flight requests on shutdown.
	// Default 30s; must be > 0.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// IdleTimeout closes a keep-alive connection that waited this long for
	// its next request. Default 60s; must be > 0.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConns caps the public listener's open connections. At the cap, or
	// when the process runs out of descriptors, the connections idle the
	// longest are closed to make room for new ones (and a new one is
	// closed when none is idle), so that a new client, the admin listener
	// and the upstreams always get a descriptor. Default 0: the process's
	// descriptor limit less a reserve for the admin listener and the
	// upstreams (256 + each upstream's max_conns_per_target × targets).
	MaxConns int `yaml:"max_conns"`
	// ReduceMemory returns an idle connection's buffers to a pool, about
	// halving what each keep-alive connection holds, at a cost of about a
	// tenth of the cache hits one core serves (both measured:
	// docs/operating.md). Default false.
	ReduceMemory bool `yaml:"reduce_memory"`
	// DrainDelay is how long the gateway keeps serving after SIGTERM with
	// /readyz answering 503 and every answer closing its connection, so
	// that balancers take it out of rotation and clients move away before
	// its listener closes. Default 5s; 0 closes at once. SIGINT, or a
	// second signal, cuts the delay short.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// ProbeListen is a host:port that serves only /healthz and /readyz,
	// for probes from off the machine (a kubelet, a balancer's health
	// check) without exposing /reload or /status. Default "": none.
	ProbeListen string `yaml:"probe_listen"`
	// AdminToken, when set, is required as "Authorization: Bearer <token>"
	// by the admin endpoints that change something (POST /reload). An
	// AdminListen that is not a loopback address is refused without one.
	// Default "": none (loopback admin only). At least 16 characters.
	// Set at most one of AdminToken, AdminTokenFile and AdminTokenEnv.
	AdminToken string `yaml:"admin_token"`
	// AdminTokenFile is a file holding the admin token (surrounding
	// whitespace ignored), read at start and at each reload: a mounted
	// secret rather than the token in the config. Default "".
	AdminTokenFile string `yaml:"admin_token_file"`
	// AdminTokenEnv names an environment variable holding the admin
	// token. Default "".
	AdminTokenEnv string `yaml:"admin_token_env"`
	// AccessLog samples the access log.
	AccessLog AccessLog `yaml:"access_log"`
	// TrustedProxies are the addresses or CIDR blocks (10.0.0.0/8,
	// ::1) of proxies in front of the gateway whose X-Forwarded-For,
	// X-Forwarded-Host, X-Forwarded-Proto, Forwarded and X-Request-Id the
	// gateway keeps. From any other peer they are removed, X-Forwarded-For
	// restarts at the peer's address and a new X-Request-Id is made.
	// Default none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// HitRequestIDs makes the gateway generate an X-Request-Id for cache
	// hits too. Default false: a hit carries the id a trusted proxy sent,
	// or none (no upstream sees it; the access log has its route and key
	// hash), which keeps the hit path to one clock read and no random
	// numbers. Every request that goes further gets an id.
	HitRequestIDs bool `yaml:"hit_request_ids"`
	// ReusePort binds the public listener with SO_REUSEPORT (Linux), so
	// that several gateways on one machine share its port and the kernel
	// spreads connections over them (make run-fleet). Default false: a
	// second process on the port is an error.
	ReusePort bool `yaml:"reuse_port"`
}

// AccessLog says which requests the access log keeps: the first PerSecond
// of each second, then one in OneIn, so that a surge cannot become a log
// flood.
type AccessLog struct {
	// PerSecond is how many requests of each second are all logged.
	// Default 10; 0 logs none that way.
	PerSecond int `yaml:"per_second"`
	// OneIn logs one request in OneIn beyond PerSecond. Default 1000; 0
	// logs none beyond PerSecond.
	OneIn int `yaml:"one_in"`
}

// Upstream is one backend pool.
type Upstream struct {
	// Targets are the backends' host:port addresses. At least one is
	// required.
	Targets []string `yaml:"targets"`
	// Timeout bounds one attempt. Default 2s; must be > 0.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConnsPerTarget is a hard cap on connections to each target; the
	// adaptive limit works below it. Default 1024; must be >= 1.
	MaxConnsPerTarget int `yaml:"max_conns_per_target"`
	// DeadlineHeader names the request header in which each attempt tells
	// the backend its remaining time budget, in whole milliseconds, so
	// that it can drop expired work. Default "X-Request-Deadline"; ""
	// sends none; otherwise an HTTP header name.
	DeadlineHeader string `yaml:"deadline_header"`
	// Health configures active health checks. Default: none (no path).
	Health Health `yaml:"health"`
	// Outlier configures passive outlier detection and the circuit
	// breaker, one state machine per target. Default: on, as documented on
	// each field.
	Outlier Outlier `yaml:"outlier"`
	// Retry configures the retries of idempotent routes.
	Retry Retry `yaml:"retry"`
}

// Health configures active health checks of an upstream's targets: a GET
// of Path on each target every Interval. A probe passes on an answer below
// 500 within Timeout. Its fields match upstream.Health's, so the gateway
// converts it with upstream.Health(h).
type Health struct {
	// Path is what each probe GETs, such as /healthz; it starts with /
	// and may hold a query. Default "": no active checks, and then the
	// other keys may not be set.
	Path string `yaml:"path"`
	// Interval is the time between probes of one target. Default 1s; must
	// be > 0.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one probe. Default 500ms; must be > 0 and not above
	// Interval.
	Timeout time.Duration `yaml:"timeout"`
	// HealthyAfter is how many passing probes in a row bring an unhealthy
	// target back. Default 2; must be >= 1.
	HealthyAfter int `yaml:"healthy_after"`
	// UnhealthyAfter is how many failed probes in a row take a target out.
	// Default 2; must be >= 1.
	UnhealthyAfter int `yaml:"unhealthy_after"`
	// FailOn5xx makes a probe answered 500 or above fail. Default false: a
	// probe judges reachability, and any answer within Timeout passes (a
	// backend failing a share of its requests is not dead; its breaker and
	// the gateway's retries deal with those).
	FailOn5xx bool `yaml:"fail_on_5xx"`
}

// Outlier configures passive outlier detection merged with a circuit
// breaker per target: a failure (no answer, a timeout or a 5xx) rule trips
// the breaker open, which ejects the target for n × BaseEjection (n
// ejections in a row, capped at MaxEjection); then it is half-open and
// lets HalfOpenProbes requests through at once, closing after that many
// successes in a row and opening again on a failure. Its fields match
// upstream.Outlier's, so the gateway converts it with upstream.Outlier(o).
type Outlier struct {
	// ConsecutiveFailures trips the breaker after that many failures in a
	// row. Default 5; 0 turns the rule off; must be >= 0.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// FailureRatio trips the breaker when failures reach this share of the
	// requests within Window (at least MinRequests of them). Default 0.3;
	// 0 turns the rule off; must be from 0 to 1.
	FailureRatio float64 `yaml:"failure_ratio"`
	// MinRequests is the fewest requests within Window for FailureRatio to
	// apply. Default 20; must be >= 1.
	MinRequests int `yaml:"min_requests"`
	// Window is the recent period FailureRatio looks at. Default 10s; must
	// be > 0.
	Window time.Duration `yaml:"window"`
	// BaseEjection is the first ejection's length. Default 1s; must be > 0.
	BaseEjection time.Duration `yaml:"base_ejection"`
	// MaxEjection caps an ejection. Default 30s; must be >= BaseEjection.
	MaxEjection time.Duration `yaml:"max_ejection"`
	// HalfOpenProbes is how many requests a half-open breaker lets through
	// at once, and how many successes close it. Default 3; must be >= 1.
	HalfOpenProbes int `yaml:"half_open_probes"`
}

// Retry configures retries of idempotent routes: only after a connection
// error (no answer) or a 502, 503 or 504, on another target when there is
// one, within the request's deadline, and under a budget. Its fields match
// upstream.Retry's, so the gateway converts it with upstream.Retry(r).
type Retry struct {
	// Attempts is the most tries of one request, the first included.
	// Default 2; 1 turns retries off; must be from 1 to 10.
	Attempts int `yaml:"attempts"`
	// BudgetRatio caps retries at this share of the upstream's requests of
	// the last 10 seconds, so that retries cannot amplify an overload.
	// Default 0.1; must be > 0 and <= 1.
	BudgetRatio float64 `yaml:"budget_ratio"`
	// MinPerSecond is the budget's floor: MinPerSecond × 10 retries per 10
	// seconds are allowed whatever the traffic. Default 3; must be > 0.
	MinPerSecond float64 `yaml:"min_per_second"`
}

// Limiter configures admission: one adaptive concurrency limit shared by
// priority classes.
type Limiter struct {
	// InitialLimit is a guess at the backend's concurrency: the limit
	// starts at an eighth of it (at least 16) and doubles per window up to
	// it while latency holds. Default 20.
	InitialLimit int `yaml:"initial_limit"`
	// MinLimit is the floor of the adaptive limit. Default 2; must be >= 1
	// and <= InitialLimit.
	MinLimit int `yaml:"min_limit"`
	// MaxLimit is the ceiling of the adaptive limit. Default 1000; must be
	// >= InitialLimit.
	MaxLimit int `yaml:"max_limit"`
	// Classes are the priority classes, highest first. At least one is
	// required; names are unique.
	Classes []Class `yaml:"classes"`
}

// Class is one priority class of the limiter.
type Class struct {
	// Name is what routes refer to. Required.
	Name string `yaml:"name"`
	// MaxQueue caps the requests waiting for a slot; 0 admits or rejects at
	// once. Default 1000; must be >= 0.
	MaxQueue int `yaml:"max_queue"`
	// MaxWait bounds one request's wait in the queue. Default 1s; must be > 0.
	MaxWait time.Duration `yaml:"max_wait"`
	// Bulk marks a class every gateway sheds first in a surge (showing or
	// re-issuing codes): a free slot goes to its users in demand order,
	// and shedding it does not make the gateway claim a larger share of a
	// shared backend. Default false.
	Bulk bool `yaml:"bulk"`
}

// Cache configures the response cache shared by all routes.
type Cache struct {
	// MaxBytes is the cache's memory budget. Default 512 MiB; must be at
	// least MinCacheBytes (32 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// PersistPath is a file the cache is saved to and loaded from. Default
	// "": no persistence.
	PersistPath string `yaml:"persist_path"`
	// PersistEvery is the interval between saves when PersistPath is set.
	// Default 1m; must be > 0.
	PersistEvery time.Duration `yaml:"persist_every"`
	// Shared, when set, shares cached answers and invalidations with the
	// other gateways of a fleet through Redis: a local miss asks Redis
	// before the backend. Default nil: this process's cache only.
	Shared *SharedCache `yaml:"shared"`
}

// SharedCache configures the fleet's second-level cache in Redis (see
// package sharedcache). Redis is never needed to serve: it is asked within
// Timeout, behind a breaker.
type SharedCache struct {
	// Redis lists Redis addresses (host:port). Required, at least one.
	Redis []string `yaml:"redis"`
	// Timeout bounds each call to Redis. Default 50ms; must be > 0.
	Timeout time.Duration `yaml:"timeout"`
	// LocalTTL is how long a local entry stays fresh while this gateway
	// cannot hear invalidations (Redis unreachable), which bounds how long
	// it may serve an answer another gateway invalidated meanwhile.
	// Default 2s; must be > 0.
	LocalTTL time.Duration `yaml:"local_ttl"`
	// BreakerFailures failed calls in a row open the breaker, which then
	// answers every lookup with a miss for BreakerOpen before one call
	// probes Redis. Default 5; must be >= 1.
	BreakerFailures int `yaml:"breaker_failures"`
	// BreakerOpen: default 1s; must be > 0.
	BreakerOpen time.Duration `yaml:"breaker_open"`
	// Prefix starts every Redis key and the invalidation channel, so that
	// several fleets can share one Redis. Default "shedgate:"; not empty.
	Prefix string `yaml:"prefix"`
}

func (s *SharedCache) setDefaults() {
	*s = SharedCache{Timeout: sharedcache.DefaultTimeout, LocalTTL: sharedcache.DefaultLocalTTL,
		BreakerFailures: sharedcache.DefaultFailures, BreakerOpen: sharedcache.DefaultOpenFor,
		Prefix: sharedcache.DefaultPrefix}
}

// Route maps requests to an upstream and says how the gateway treats them.
type Route struct {
	// Name identifies the route in metrics, logs and invalidates. Required,
	// unique; letters, digits, '_' and '-'.
	Name string `yaml:"name"`
	// Method is GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS. Default "":
	// any method but TRACE and CONNECT, which the gateway never forwards.
	Method string `yaml:"method"`
	// Methods lists several methods the route matches, such as [GET,
	// HEAD]; set Method or Methods, not both. Default none.
	Methods []string `yaml:"methods"`
	// Path is a template: literal segments, {param} segments and an optional
	// trailing /* (see ParseTemplate). Required.
	Path string `yaml:"path"`
	// Upstream names an entry of Config.Upstreams. Required.
	Upstream string `yaml:"upstream"`
	// Class names an entry of Limiter.Classes. Required.
	Class string `yaml:"class"`
	// Key is the identity for cache, coalescing, per-key rate and
	// invalidation: a template such as "{id}" or "{id}:{rid}" whose params
	// all appear in Path (see ParseKey). Default "": the route has one
	// identity, which is allowed only for paths without params or wildcard
	// when cache, coalesce or per_key is set.
	Key string `yaml:"key"`
	// Cache, when set, caches the route's answers (which ones is the
	// gateway's policy); GET and HEAD routes only.
	// Default nil: no caching.
	Cache *RouteCache `yaml:"cache"`
	// Coalesce turns concurrent requests for the same key into one backend
	// call; GET and HEAD routes only. Default false.
	Coalesce bool `yaml:"coalesce"`
	// PerKey, when set, rate-limits each key. Default nil: no per-key rate.
	PerKey *PerKey `yaml:"per_key"`
	// Invalidates names cached routes whose entry for the same key a 2xx
	// answer of this route evicts. Default none.
	Invalidates []string `yaml:"invalidates"`
	// Idempotent allows retries. Default true for GET, HEAD and OPTIONS,
	// false otherwise (any method included).
	Idempotent bool `yaml:"idempotent"`
	// IdempotencyKey names a request header, such as Idempotency-Key, whose
	// value the backend uses to answer a repeated request with its first
	// answer instead of acting twice (docs/operating.md). A request that
	// carries it is retried like an idempotent one, and told it may retry
	// when its outcome is unknown. It is forwarded as it came. Default "":
	// none.
	IdempotencyKey string `yaml:"idempotency_key"`
	// Timeout overrides the upstream's per-attempt timeout. Default 0: the
	// upstream's; when set it must be > 0.
	Timeout time.Duration `yaml:"timeout"`
	// Public says the route's answers do not depend on the client's
	// credentials, so that requests carrying Authorization or Cookie may be
	// served from the cache and coalesced like any other. Default false:
	// such requests go to the upstream alone and their answers are never
	// stored or shared (RFC 9111 section 3.5).
	Public bool `yaml:"public"`
	// Query says what the query string is to the cache and coalescing:
	// "key" (default) forwards it and makes it part of the entry's
	// identity; "drop" removes it before forwarding, so it can neither vary
	// the answer nor bust the cache.
	Query string `yaml:"query"`
	// Host says what the Host header (and a trusted X-Forwarded-Host) is
	// to the cache and coalescing: "key" (default) makes it part of the
	// entry's identity; "ignore" does not (the upstream answers the same
	// whatever the Host).
	Host string `yaml:"host"`
	// Validate checks path parameters at the edge, so that a malformed key
	// gets 400 without costing an upstream call: parameter name to a named
	// validator (resident_id: 18 characters, 17 digits and a check digit
	// or X, ISO 7064 MOD 11-2; digits: 1 to 32 ASCII digits) or to a
	// regular expression written /like this/ that the whole value must
	// match. Default none.
	Validate map[string]string `yaml:"validate"`

	// Template is Path, parsed.
	Template Template `yaml:"-"`
	// KeyTemplate is Key, parsed; empty when Key is "".
	KeyTemplate KeyTemplate `yaml:"-"`
}

// RouteCache is a route's caching policy.
type RouteCache struct {
	// TTL is "upstream" (the response's Cache-Control max-age; responses
	// with none, or with no-store or private, are not cached) or a fixed
	// duration > 0. Default "upstream".
	TTL string `yaml:"ttl"`
	// MaxTTL caps the lifetime of an entry. Default 0: no cap; must be >= 0
	// and, with a fixed TTL, not below it.
	MaxTTL time.Duration `yaml:"max_ttl"`
	// StaleFor is how long an expired entry may still be served when the
	// request is shed. Default 0: never; must be >= 0.
	StaleFor time.Duration `yaml:"stale_for"`
}

// FixedTTL returns the fixed lifetime and true when TTL is a duration, and
// 0 and false when it is "upstream".
func (c *RouteCache) FixedTTL() (time.Duration, bool) {
	if c.TTL == TTLUpstream || c.TTL == "" {
		return 0, false
	}
	d, err := time.ParseDuration(c.TTL)
	if err != nil {
		return 0, false
	}
	return d, true
}

// PerKey is a token bucket per key: Rate requests per Per, bursts of Burst.
type PerKey struct {
	// Rate is the steady number of requests allowed per Per. Required; > 0.
	Rate float64 `yaml:"rate"`
	// Per is the period of Rate. Default 1s; must be > 0.
	Per time.Duration `yaml:"per"`
	// Burst is the bucket size. Default 0, which Parse replaces by Rate
	// rounded up (at least 1); must be >= 0.
	Burst int `yaml:"burst"`
}

// MethodList returns the methods the route matches: Methods, or Method
// alone, or nil for any method.
func (r *Route) MethodList() []string {
	if len(r.Methods) > 0 {
		return r.Methods
	}
	if r.Method != "" {
		return []string{r.Method}
	}
	return nil
}

// ClassIndex returns the position of the named class in Limiter.Classes
// (0 is the highest priority), or -1 when there is none.
func (c *Config) ClassIndex(name string) int {
	for i := range c.Limiter.Classes {
		if c.Limiter.Classes[i].Name == name {
			return i
		}
	}
	return -1
}

// UpstreamNames returns the names of the upstreams, sorted.
func (c *Config) UpstreamNames() []string {
	names := make([]string, 0, len(c.Upstreams))
	for name := range c.Upstreams {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Error is one problem in a config file. Parse and Load return one or more
// of them joined with errors.Join (one per line); errors.As finds the first.
type Error struct {
	File string // the file, as given to Load or Parse
	Line int    // 1-based
	Key  string // key path such as routes[1].class, or (document) or (yaml)
	Msg  string // what is wrong
}

// Error formats e as "<file>:<line>: <key path>: <what is wrong>".
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
}

// defaulter is implemented by the types whose fields have non-zero
// defaults; the decoder calls it on every value it allocates, before
// decoding into it, so that an explicit zero stays distinguishable.
type defaulter interface{ setDefaults() }

func (c *Config) setDefaults() {
	c.Server = Server{
		Listen:         ":8080",
		AdminListen:    "127.0.0.1:9090",
		ReadTimeout:    5 * time.Second,
		WriteTimeout:   5 * time.Second,
		MaxHeaderBytes: 16384,
		MaxBodyBytes:   65536,
		DrainTimeout:   30 * time.Second,
		DrainDelay:     5 * time.Second,
		IdleTimeout:    60 * time.Second,
		AccessLog:      AccessLog{PerSecond: 10, OneIn: 1000},
	}
	c.Limiter = Limiter{InitialLimit: limiter.DefaultInitialLimit, MinLimit: limiter.DefaultMinLimit,
		MaxLimit: limiter.DefaultMaxLimit}
	c.Cache = Cache{MaxBytes: cache.DefaultMaxBytes, PersistEvery: time.Minute}
}

func (u *Upstream) setDefaults() {
	u.Timeout = upstream.DefaultTimeout
	u.MaxConnsPerTarget = upstream.DefaultMaxConnsPerTarget
	u.DeadlineHeader = upstream.DefaultDeadlineHeader
	u.Health = Health{Interval: upstream.DefaultHealthInterval, Timeout: upstream.DefaultHealthTimeout,
		HealthyAfter: upstream.DefaultHealthyAfter, UnhealthyAfter: upstream.DefaultUnhealthyAfter}
	// The two ejection rules are off in the library; a gateway config
	// turns them on.
	u.Outlier = Outlier{ConsecutiveFailures: 5, FailureRatio: 0.3, MinRequests: upstream.DefaultMinRequests,
		Window: upstream.DefaultOutlierWindow, BaseEjection: upstream.DefaultBaseEjection,
		MaxEjection: upstream.DefaultMaxEjection, HalfOpenProbes: upstream.DefaultHalfOpenProbes}
	u.Retry = Retry{Attempts: upstream.DefaultAttempts, BudgetRatio: upstream.DefaultBudgetRatio,
		MinPerSecond: upstream.DefaultMinRetriesPerSecond}
}

func (c *Class) setDefaults() {
	c.MaxQueue = 1000 // the library's zero means no queue: a config class queues by default
	c.MaxWait = limiter.DefaultMaxWait
}

func (c *RouteCache) setDefaults() { c.TTL = TTLUpstream }

// Values of Route.Query and Route.Host.
const (
	QueryKey   = "key"
	QueryDrop  = "drop"
	HostKey    = "key"
	HostIgnore = "ignore"
)

// Validators are the named validators of Route.Validate.
var Validators = []string{"resident_id", "digits"}

func (p *PerKey) setDefaults() { p.Per = time.Second }

func (r *Route) setDefaults() { r.Query, r.Host = QueryKey, HostKey }
