package gateway

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"

	"shedgate/cache"
	"shedgate/limiter"
	"shedgate/upstream"
)

// routeMetrics counts one route's answers by status and times them.
// Counters for a status are created on first use and cached in a fixed
// array, so counting allocates nothing once warm. Safe for concurrent use.
type routeMetrics struct {
	set      *metrics.Set
	route    string
	class    string
	byStatus [600]atomic.Pointer[metrics.Counter]
	duration *metrics.PrometheusHistogram
}

// durationBuckets are the upper bounds (seconds) of the request and
// rejection histograms: fine below 5 ms, where a shed answer and a hit
// belong, coarse up to the longest upstream timeout.
var durationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.03, 0.05,
	0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10,
}

func newRouteMetrics(set *metrics.Set, route, class string) *routeMetrics {
	return &routeMetrics{
		set:   set,
		route: route,
		class: class,
		duration: set.GetOrCreatePrometheusHistogramExt(fmt.Sprintf(
			`gateway_request_duration_seconds{route=%q,class=%q}`, route, class), durationBuckets),
	}
}

// observe counts an answer with status that took d.
// count counts one answer of status.
func (m *routeMetrics) count(status int) {
	if status < 100 || status >= len(m.byStatus) {
		status = 0
	}
	c := m.byStatus[status].Load()
	if c == nil {
		c = m.set.GetOrCreateCounter(fmt.Sprintf(
			`gateway_requests_total{route=%q,class=%q,status="%d"}`, m.route, m.class, status))
		m.byStatus[status].Store(c)
	}
	c.Inc()
}

// metricsRegistry hands out one routeMetrics per (route, class) for the
// gateway's lifetime, so figures survive a config reload.
type metricsRegistry struct {
	set       *metrics.Set
	unmatched *routeMetrics // requests no route matched
	// rejections times the requests the gateway turned away (503 shed,
	// 429 over the key's rate), from arrival to answer.
	rejections *metrics.PrometheusHistogram
	mu         sync.Mutex // guards routes
	routes     map[[2]string]*routeMetrics
	buildInfo  string // the gateway_build_info sample
}

func newMetricsRegistry() *metricsRegistry {
	// The library's switch for TYPE lines, which give the process's own
	// families their types; exposition replaces its empty HELP lines.
	metrics.ExposeMetadata(true)
	set := metrics.NewSet()
	return &metricsRegistry{
		set:        set,
		unmatched:  newRouteMetrics(set, "(none)", ""),
		rejections: set.NewPrometheusHistogramExt("gateway_rejection_duration_seconds", durationBuckets),
		routes:     make(map[[2]string]*routeMetrics),
		buildInfo:  buildInfo(),
	}
}

func (r *metricsRegistry) route(name, class string) *routeMetrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]string{name, class}
	m := r.routes[k]
	if m == nil {
		m = newRouteMetrics(r.set, name, class)
		r.routes[k] = m
	}
	return m
}

// targetGauges are the per-target figures exposed as gauges read at
// scrape time.
var targetGauges = []struct {
	name string
	read func(*upstream.Target) float64
}{
	{"gateway_upstream_in_flight", func(t *upstream.Target) float64 { return float64(t.Pending()) }},
	{"gateway_upstream_conns", func(t *upstream.Target) float64 { return float64(t.Conns()) }},
	{"gateway_upstream_requests_total", func(t *upstream.Target) float64 { return float64(t.Requests()) }},
	{"gateway_upstream_failures_total", func(t *upstream.Target) float64 { return float64(t.Failures()) }},
	{"gateway_upstream_ejections_total", func(t *upstream.Target) float64 { return float64(t.Ejections()) }},
	{"gateway_upstream_healthy", func(t *upstream.Target) float64 {
		if t.Healthy() && t.Breaker() == upstream.BreakerClosed {
			return 1
		}
		return 0
	}},
}

func targetLabels(pool string, t *upstream.Target) string {
	return fmt.Sprintf(`{upstream=%q,target=%q}`, pool, t.Addr())
}

// registerPool exposes a pool's retry figures and per-target figures. A
// target that replaces one with the same address (new settings after a
// reload) takes over its series.
func (r *metricsRegistry) registerPool(p *upstream.Pool) {
	pl := fmt.Sprintf(`{upstream=%q}`, p.Name())
	for name, read := range map[string]func() float64{
		"gateway_upstream_retries_total":         func() float64 { return float64(p.Retries()) },
		"gateway_upstream_retries_refused_total": func() float64 { return float64(p.RetriesRefused()) },
		"gateway_upstream_retry_budget_retries":  p.RetryBudget,
		"gateway_upstream_unavailable_total":     func() float64 { return float64(p.Unavailable()) },
		"gateway_upstream_panic_total":           func() float64 { return float64(p.Panics()) },
	} {
		r.set.UnregisterMetric(name + pl)
		r.set.NewGauge(name+pl, read)
	}
	for _, t := range p.Targets() {
		labels := targetLabels(p.Name(), t)
		for _, gauge := range targetGauges {
			read := gauge.read
			r.set.UnregisterMetric(gauge.name + labels)
			r.set.NewGauge(gauge.name+labels, func() float64 { return read(t) })
		}
	}
}

// unregisterTarget removes a retired target's series.
func (r *metricsRegistry) unregisterTarget(pool string, t *upstream.Target) {
	labels := targetLabels(pool, t)
	for _, gauge := range targetGauges {
		r.set.UnregisterMetric(gauge.name + labels)
	}
}

// writeCacheMetrics writes the cache's and the flight group's figures, read
// once per scrape.
func (g *Gateway) writeCacheMetrics(w io.Writer) {
	var s cache.Stats
	g.cache.UpdateStats(&s)
	metrics.WriteCounterUint64(w, "gateway_cache_hits_total", s.Hits)
	metrics.WriteCounterUint64(w, "gateway_cache_misses_total", s.Misses)
	metrics.WriteCounterUint64(w, "gateway_cache_stale_found_total", s.StaleFound)
	metrics.WriteCounterUint64(w, "gateway_cache_stale_served_total", s.StaleServed)
	metrics.WriteCounterUint64(w, "gateway_cache_stores_total", s.Stores)
	metrics.WriteCounterUint64(w, "gateway_cache_skipped_too_big_total", s.Skipped)
	metrics.WriteCounterUint64(w, "gateway_cache_invalidations_total", s.Invalidations)
	metrics.WriteCounterUint64(w, "gateway_cache_evicted_bytes_total", s.EvictedBytes)
	metrics.WriteGaugeUint64(w, "gateway_cache_entries", s.Entries)
	metrics.WriteGaugeUint64(w, "gateway_cache_bytes", s.Bytes)
	metrics.WriteGaugeUint64(w, "gateway_cache_bytes_capacity", s.MaxBytes)
	metrics.WriteGaugeUint64(w, "gateway_cache_loaded_entries", s.Loaded)
	metrics.WriteGaugeUint64(w, "gateway_cache_replayed_deletions", s.Replayed)
	metrics.WriteGaugeUint64(w, "gateway_cache_snapshot_set_aside", s.SetAside)
	metrics.WriteGaugeFloat64(w, "gateway_cache_persist_duration_seconds", s.LastPersist.Seconds())
	metrics.WriteCounterUint64(w, "gateway_cache_persist_failures_total", uint64(s.PersistFailures))
	metrics.WriteCounterUint64(w, "gateway_coalesced_waiters_total", g.coalesced.Load())
	metrics.WriteCounterUint64(w, "gateway_coalesce_private_refetches_total", g.privateRefetches.Load())
	for why := unsharedNone + 1; why < unsharedReasons; why++ {
		metrics.WriteCounterUint64(w, `gateway_cache_not_stored_total{reason="`+unsharedNames[why]+`"}`, g.notStored[why].Load())
	}
	metrics.WriteGaugeUint64(w, "gateway_flights_in_progress", uint64(g.flights.InFlight()))
}

// outcomes counts every answer as ok, shed or error, for /status.
type outcomes struct {
	total, ok, shed, errors atomic.Uint64
}

func (o *outcomes) count(status int) {
	o.total.Add(1)
	switch {
	case status == 429 || status == 503:
		o.shed.Add(1)
	case status >= 500:
		o.errors.Add(1)
	default:
		o.ok.Add(1)
	}
}

func (o *outcomes) status() RequestStatus {
	return RequestStatus{Total: o.total.Load(), OK: o.ok.Load(), Shed: o.shed.Load(), Errors: o.errors.Load()}
}

// writeLimiterMetrics writes the admission figures, read once per scrape.
func (g *Gateway) writeLimiterMetrics(w io.Writer) {
	var ls limiter.Stats
	g.limiter.Stats(&ls)
	metrics.WriteGaugeUint64(w, "gateway_limiter_limit", uint64(ls.Limit))
	metrics.WriteGaugeUint64(w, "gateway_limiter_in_flight", uint64(ls.InFlight))
	metrics.WriteGaugeFloat64(w, `gateway_limiter_rtt_seconds{statistic="min"}`, ls.MinRTT.Seconds())
	metrics.WriteGaugeFloat64(w, `gateway_limiter_rtt_seconds{statistic="p90"}`, ls.P90RTT.Seconds())
	metrics.WriteGaugeFloat64(w, `gateway_limiter_rtt_seconds{statistic="baseline"}`, ls.BaselineRTT.Seconds())
	metrics.WriteGaugeFloat64(w, "gateway_limiter_tolerance_ratio", ls.Tolerance)
	metrics.WriteGaugeFloat64(w, "gateway_limiter_drain_requests_per_second", ls.DrainRate)
	metrics.WriteGaugeFloat64(w, "gateway_limiter_local_delay_seconds", ls.LocalDelay.Seconds())
	metrics.WriteCounterUint64(w, "gateway_limiter_silences_total", ls.Silences)
	metrics.WriteGaugeUint64(w, `gateway_upstream_rtt_timing{source="`+upstream.TimingSource()+`"}`, 1)
	kernel, wall := upstream.TimedAnswers()
	metrics.WriteCounterUint64(w, `gateway_upstream_answers_timed_total{source="kernel"}`, kernel)
	metrics.WriteCounterUint64(w, `gateway_upstream_answers_timed_total{source="wall"}`, wall)
	for _, c := range ls.Classes {
		l := fmt.Sprintf(`{class=%q}`, c.Name)
		metrics.WriteGaugeUint64(w, "gateway_limiter_queue_depth"+l, uint64(c.QueueDepth))
		metrics.WriteGaugeFloat64(w, "gateway_limiter_mean_wait_seconds"+l, c.MeanWait.Seconds())
		metrics.WriteGaugeFloat64(w, "gateway_limiter_admitting_ratio"+l, c.Admitting)
		metrics.WriteCounterUint64(w, "gateway_limiter_admitted_total"+l, c.Admitted)
		metrics.WriteCounterUint64(w, fmt.Sprintf(`gateway_limiter_admitted_free_slot_total{class=%q,to="next_rank"}`, c.Name), c.FreeNextRank)
		metrics.WriteCounterUint64(w, fmt.Sprintf(`gateway_limiter_admitted_free_slot_total{class=%q,to="any"}`, c.Name), c.FreeAny)
		for r, n := range c.Rejected {
			if r != int(limiter.ReasonNone) {
				metrics.WriteCounterUint64(w, fmt.Sprintf(`gateway_limiter_rejected_total{class=%q,reason=%q}`,
					c.Name, limiter.Reason(r).String()), n)
			}
		}
	}
}

// writeConnMetrics writes the public connections open, their cap, and
// those the cap closed.
func (g *Gateway) writeConnMetrics(w io.Writer) {
	metrics.WriteGaugeUint64(w, "gateway_connections_open", uint64(g.deadlines.Len()))
	metrics.WriteGaugeUint64(w, "gateway_connections_max", uint64(g.conns.max))
	metrics.WriteCounterUint64(w, "gateway_connections_evicted_total", g.conns.evicted.Load())
	metrics.WriteCounterUint64(w, "gateway_connections_refused_total", g.conns.refused.Load())
	metrics.WriteCounterUint64(w, "gateway_connections_rebalanced_total", g.conns.rebalanced.Load())
}

// writeReloadMetrics writes the config version in force, the reloads and
// whether the last one took (as Prometheus's own
// prometheus_config_last_reload_successful).
func (g *Gateway) writeReloadMetrics(w io.Writer) {
	metrics.WriteGaugeUint64(w, "gateway_config_version", uint64(g.state.Load().version))
	metrics.WriteCounterUint64(w, "gateway_config_reloads_total", g.reload.reloads.Load())
	metrics.WriteCounterUint64(w, "gateway_config_reload_failures_total", g.reload.failures.Load())
	ok := uint64(1)
	if g.reload.lastFailed.Load() {
		ok = 0
	}
	metrics.WriteGaugeUint64(w, "gateway_config_last_reload_successful", ok)
	metrics.WriteGaugeUint64(w, "gateway_config_last_reload_success_timestamp_seconds", uint64(g.reload.lastSuccess.Load()))
}

// buildInfo is the gateway_build_info sample: constant 1, the build in labels.
func buildInfo() string {
	version, revision, goVersion := "unknown", "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return fmt.Sprintf("gateway_build_info{version=%q,revision=%q,goversion=%q} 1\n", version, revision, goVersion)
}

// writeMetrics writes /metrics: the gateway's figures and the process's,
// in the exposition format stock Prometheus reads (see exposition).
func (g *Gateway) writeMetrics(w io.Writer) {
	var raw bytes.Buffer
	g.metrics.set.WritePrometheus(&raw)
	metrics.WriteProcessMetrics(&raw)
	raw.WriteString(g.metrics.buildInfo)
	var e exposition
	e.parse(raw.Bytes())
	e.write(w)
}
