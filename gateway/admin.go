package gateway

import (
	"bytes"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"shedgate/cache"
	"shedgate/limiter"
	"shedgate/upstream"
)

// operatorPage is the self-contained operator's page served at / on the
// admin listener: it polls /status each second and draws the last minutes.
//
//go:embed ui/index.html
var operatorPage []byte

// serveAdmin answers the admin listener: / (the operator's page), /metrics (Prometheus text),
// /healthz (the process is alive), /readyz (it accepts traffic; 503 while
// draining) and /status (JSON for operators).
func (g *Gateway) serveAdmin(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/":
		ctx.SetContentType("text/html; charset=utf-8")
		ctx.SetBody(operatorPage)
	case "/metrics":
		ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		g.writeMetrics(ctx)
	case "/healthz", "/readyz":
		g.serveProbe(ctx)
	case "/status":
		g.writeStatus(ctx)
	case "/reload":
		g.serveReload(ctx)
	default:
		writeJSONError(ctx, fasthttp.StatusNotFound, []byte(`{"error":"not found"}`))
	}
}

// serveProbe answers the probes, on the admin listener and on
// server.probe_listen: /healthz (the process is alive), /readyz (it takes
// traffic; 503 from the moment a drain starts).
func (g *Gateway) serveProbe(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	switch string(ctx.Path()) {
	case "/healthz":
		ctx.SetBodyString(`{"status":"ok"}`)
	case "/readyz":
		if g.draining.Load() {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString(`{"status":"draining"}`)
			return
		}
		ctx.SetBodyString(`{"status":"ready"}`)
	default:
		writeJSONError(ctx, fasthttp.StatusNotFound, []byte(`{"error":"not found: this listener serves /healthz and /readyz"}`))
	}
}

// serveReload answers POST /reload: 200 with the new version, or 422 with
// the error (file, line and key) while the running config stays.
func (g *Gateway) serveReload(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		writeJSONError(ctx, fasthttp.StatusMethodNotAllowed, []byte(`{"error":"use POST"}`))
		return
	}
	if !g.adminAuthorized(ctx) {
		writeJSONError(ctx, fasthttp.StatusUnauthorized,
			[]byte(`{"error":"unauthorized: send Authorization: Bearer <server.admin_token>"}`))
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="shedgate-admin"`)
		return
	}
	ctx.SetContentType("application/json")
	if err := g.Reload("POST /reload"); err != nil {
		ctx.SetStatusCode(fasthttp.StatusUnprocessableEntity)
		json.NewEncoder(ctx).Encode(map[string]any{"error": err.Error(), "version": g.state.Load().version}) //nolint:errcheck
		return
	}
	st := g.state.Load()
	json.NewEncoder(ctx).Encode(map[string]any{"version": st.version, "hash": st.cfg.Hash}) //nolint:errcheck
}

// Status is the JSON document served at /status.
type Status struct {
	Config      ConfigStatus  `json:"config"`
	Reload      ReloadStatus  `json:"reload"`
	Requests    RequestStatus `json:"requests"`
	Connections ConnStatus    `json:"connections"`
	Cache       CacheStatus   `json:"cache"`
	// SharedCache is the fleet's cache in Redis; absent without one.
	SharedCache *FleetStatus     `json:"shared_cache,omitempty"`
	Limiter     LimiterStatus    `json:"limiter"`
	Draining    bool             `json:"draining"`
	UptimeS     float64          `json:"uptime_s"`
	Routes      []RouteStatus    `json:"routes"`
	Upstreams   []UpstreamStatus `json:"upstreams"`
}

// RequestStatus counts the gateway's answers since start: ok (below 500,
// 429 excepted), shed (429 and 503, each with Retry-After) and errors
// (other 5xx).
type RequestStatus struct {
	Total  uint64 `json:"total"`
	OK     uint64 `json:"ok"`
	Shed   uint64 `json:"shed"`
	Errors uint64 `json:"errors"`
}

// ConnStatus is the public listener's connections: open now, the cap, and
// those the cap closed (idle ones evicted, new ones refused).
type ConnStatus struct {
	Open    int    `json:"open"`
	Max     int    `json:"max"`
	Evicted uint64 `json:"evicted"`
	Refused uint64 `json:"refused"`
	// Rebalanced counts connections closed after an answer while this
	// gateway held more than its fleet's mean.
	Rebalanced uint64 `json:"rebalanced"`
}

// CacheStatus is the cache part of /status.
type CacheStatus struct {
	Hits        uint64 `json:"hits"`
	Misses      uint64 `json:"misses"`
	StaleServed uint64 `json:"stale_served"`
	Coalesced   uint64 `json:"coalesced"`
	// PrivateRefetches counts flight waiters whose leader's answer was
	// private (Set-Cookie, Cache-Control private) or for another
	// variant (Host, query, the values of its Vary fields), who fetched
	// their own.
	PrivateRefetches uint64 `json:"private_refetches"`
	// NotStored counts 200 answers of cached routes that were not stored,
	// by reason: cache_control, set_cookie, vary, no_lifetime.
	NotStored map[string]uint64 `json:"not_stored"`
	Entries   uint64            `json:"entries"`
	Bytes     uint64            `json:"bytes"`
	MaxBytes  uint64            `json:"max_bytes"`
}

// LimiterStatus is the admission part of /status.
type LimiterStatus struct {
	Limit    int     `json:"limit"`
	InFlight int     `json:"in_flight"`
	Probing  bool    `json:"probing"`
	MinRTTMs float64 `json:"min_rtt_ms"`
	// BaselineRTTMs is the no-queue p90 the limit's gradient compares with.
	BaselineRTTMs float64 `json:"baseline_rtt_ms"`
	P90RTTMs      float64 `json:"p90_rtt_ms"`
	// Tolerance is the p90/baseline ratio above which the limit is cut:
	// the configured one, raised while this gateway sheds or loses a
	// class that is not bulk.
	Tolerance float64 `json:"tolerance"`
	DrainRate float64 `json:"drain_rate"`
	// LocalDelayMs is the recent mean of this process's own delay on top
	// of each backend round trip (reading an answer late, sending late):
	// its slots are added to the limit.
	LocalDelayMs float64 `json:"local_delay_ms"`
	// RTTTiming says how round trips are timed: "kernel" (receive
	// timestamps: the backend's round trip alone) or "wall" (this
	// process's clock around the call, its own delay included).
	RTTTiming string `json:"rtt_timing"`
	// KernelTimed and WallTimed count the answers timed each way.
	KernelTimed uint64 `json:"kernel_timed"`
	WallTimed   uint64 `json:"wall_timed"`
	// QueueTargetMs is the mean queue wait above which the admission
	// level sheds more.
	QueueTargetMs float64 `json:"queue_target_ms"`
	// Silences counts the times the backend answered nothing for a while
	// and then answered late: it got slower, not busier, and the limit
	// rose with its round trip.
	Silences uint64        `json:"silences"`
	Classes  []ClassStatus `json:"classes"`
}

// ClassStatus is one priority class: its queue, admissions and
// rejections (shed is their total; rejected breaks it down by reason).
type ClassStatus struct {
	Name       string            `json:"name"`
	Queue      int               `json:"queue"`
	Admitted   uint64            `json:"admitted"`
	Shed       uint64            `json:"shed"`
	Rejected   map[string]uint64 `json:"rejected"`
	MeanWaitMs float64           `json:"mean_wait_ms"`
	// FreeNextRank and FreeAny count the admitted that the admission
	// level cut off, taken in by a slot nobody waited for: within a
	// demand rank of the level, and further below.
	FreeNextRank uint64 `json:"admitted_free_next_rank"`
	FreeAny      uint64 `json:"admitted_free_any"`
	// Admitting is the share of the class's users the admission level
	// lets through now (1: all; 0: shed at arrival).
	Admitting float64 `json:"admitting"`
}

// ConfigStatus identifies the config version in force.
type ConfigStatus struct {
	File     string    `json:"file"`
	Hash     string    `json:"hash"`
	Version  int       `json:"version"`
	LoadedAt time.Time `json:"loaded_at"`
}

// RouteStatus describes one configured route.
type RouteStatus struct {
	Name     string `json:"name"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	Key      string `json:"key,omitempty"`
	Upstream string `json:"upstream"`
	Class    string `json:"class"`
}

// UpstreamStatus describes one upstream, its retry budget and its targets.
type UpstreamStatus struct {
	Name           string         `json:"name"`
	TimeoutMs      int64          `json:"timeout_ms"`
	Retries        uint64         `json:"retries"`
	RetriesRefused uint64         `json:"retries_refused"`
	RetryBudget    float64        `json:"retry_budget_left"`
	Unavailable    uint64         `json:"unavailable"`
	Panics         uint64         `json:"panics"`
	Targets        []TargetStatus `json:"targets"`
}

// TargetStatus holds one target's live figures: state is healthy,
// unhealthy (active checks), ejected (breaker open) or half-open.
type TargetStatus struct {
	Addr      string `json:"addr"`
	State     string `json:"state"`
	Breaker   string `json:"breaker"`
	InFlight  int64  `json:"in_flight"`
	Conns     int    `json:"conns"`
	Requests  uint64 `json:"requests"`
	Failures  uint64 `json:"failures"`
	Ejections uint64 `json:"ejections"`
}

// Status returns the gateway's current status.
func (g *Gateway) Status() Status {
	st := g.state.Load()
	s := Status{
		Config: ConfigStatus{
			File: st.cfg.Path, Hash: st.cfg.Hash, Version: st.version, LoadedAt: st.loadedAt,
		},
		Reload:   g.reload.status(),
		Requests: g.outcomes.status(),
		Connections: ConnStatus{Open: g.deadlines.Len(), Max: g.conns.max, Evicted: g.conns.evicted.Load(),
			Refused: g.conns.refused.Load(), Rebalanced: g.conns.rebalanced.Load()},
		Cache:       g.cacheStatus(),
		SharedCache: g.fleetStatus(),
		Limiter:     g.limiterStatus(),
		Draining:    g.draining.Load(),
		UptimeS:     time.Since(g.started).Seconds(),
	}
	for _, rt := range st.router.routes {
		method := strings.Join(rt.methods, ",")
		if method == "" {
			method = "*"
		}
		s.Routes = append(s.Routes, RouteStatus{
			Name: rt.name, Method: method, Path: rt.cfg.Path, Key: rt.cfg.Key,
			Upstream: rt.pool.Name(), Class: rt.class,
		})
	}
	for _, name := range st.cfg.UpstreamNames() {
		p := st.pools[name]
		var ps upstream.PoolStats
		p.Stats(&ps)
		us := UpstreamStatus{Name: name, TimeoutMs: p.Timeout().Milliseconds(), Retries: ps.Retries,
			RetriesRefused: ps.RetriesRefused, RetryBudget: ps.RetryBudget, Unavailable: ps.Unavailable,
			Panics: ps.Panics}
		for _, t := range ps.Targets {
			us.Targets = append(us.Targets, TargetStatus{
				Addr: t.Addr, State: t.State.String(), Breaker: t.Breaker.String(), InFlight: t.InFlight,
				Conns: t.Conns, Requests: t.Requests, Failures: t.Failures, Ejections: t.Ejections,
			})
		}
		s.Upstreams = append(s.Upstreams, us)
	}
	return s
}

func (g *Gateway) writeStatus(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	enc := json.NewEncoder(ctx)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g.Status()); err != nil {
		writeJSONError(ctx, fasthttp.StatusInternalServerError, bodyInternal)
	}
}

func (g *Gateway) cacheStatus() CacheStatus {
	var cs cache.Stats
	g.cache.UpdateStats(&cs)
	st := CacheStatus{
		Hits: cs.Hits, Misses: cs.Misses, StaleServed: cs.StaleServed, Coalesced: g.coalesced.Load(),
		PrivateRefetches: g.privateRefetches.Load(), NotStored: map[string]uint64{},
		Entries: cs.Entries, Bytes: cs.Bytes, MaxBytes: cs.MaxBytes,
	}
	for why := unsharedNone + 1; why < unsharedReasons; why++ {
		st.NotStored[unsharedNames[why]] = g.notStored[why].Load()
	}
	return st
}

func (g *Gateway) limiterStatus() LimiterStatus {
	var ls limiter.Stats
	g.limiter.Stats(&ls)
	s := LimiterStatus{
		Limit: ls.Limit, InFlight: ls.InFlight, Probing: ls.Probing,
		MinRTTMs: ms(ls.MinRTT), BaselineRTTMs: ms(ls.BaselineRTT), P90RTTMs: ms(ls.P90RTT), Tolerance: ls.Tolerance, DrainRate: ls.DrainRate,
		LocalDelayMs: ms(ls.LocalDelay), QueueTargetMs: ms(ls.QueueDelayTarget), Silences: ls.Silences,
		RTTTiming: upstream.TimingSource(),
	}
	s.KernelTimed, s.WallTimed = upstream.TimedAnswers()
	for _, c := range ls.Classes {
		cs := ClassStatus{Name: c.Name, Queue: c.QueueDepth, Admitted: c.Admitted,
			FreeNextRank: c.FreeNextRank, FreeAny: c.FreeAny,
			Rejected: map[string]uint64{}, MeanWaitMs: ms(c.MeanWait), Admitting: c.Admitting}
		for r, n := range c.Rejected {
			if r != int(limiter.ReasonNone) {
				cs.Rejected[limiter.Reason(r).String()] = n
				cs.Shed += n
			}
		}
		s.Classes = append(s.Classes, cs)
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// adminAuthorized reports whether ctx may use an admin endpoint that
// changes something: always without server.admin_token, else only with
// "Authorization: Bearer <token>" (compared in constant time).
func (g *Gateway) adminAuthorized(ctx *fasthttp.RequestCtx) bool {
	token := g.state.Load().cfg.Server.AdminToken
	if token == "" {
		return true
	}
	got, ok := bytes.CutPrefix(ctx.Request.Header.Peek("Authorization"), []byte("Bearer "))
	return ok && subtle.ConstantTimeCompare(bytes.TrimSpace(got), []byte(token)) == 1
}
