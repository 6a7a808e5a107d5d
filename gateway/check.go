package gateway

import (
	"fmt"
	"io"
	"strings"

	"shedgate/configs"
	"shedgate/limiter"
)

// Check builds everything New would from cfg (a config configs.Load or
// Parse accepted) without opening a listener, a cache file or a connection,
// and returns the first thing the gateway would refuse. It is gateway
// -check's second half, after configs' own validation.
func Check(cfg *configs.Config) error {
	if _, err := limiter.New(limiterConfig(&cfg.Limiter)); err != nil {
		return fmt.Errorf("%s: limiter: %w", cfg.Path, err)
	}
	g := &Gateway{metrics: newMetricsRegistry()}
	if _, err := g.compile(cfg, 1, nil); err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	return nil
}

// WriteSummary writes what cfg sets up, one line per listener, upstream,
// class and route, for an operator checking a config before a reload.
func WriteSummary(w io.Writer, cfg *configs.Config) {
	s := cfg.Server
	fmt.Fprintf(w, "config %s (sha256 %.12s)\n", cfg.Path, cfg.Hash)
	fmt.Fprintf(w, "listen %s, admin %s\n", s.Listen, s.AdminListen)
	for _, name := range cfg.UpstreamNames() {
		u := cfg.Upstreams[name]
		fmt.Fprintf(w, "upstream %s: %d target(s) %s, timeout %v\n", name, len(u.Targets), strings.Join(u.Targets, " "), u.Timeout)
	}
	l := cfg.Limiter
	fmt.Fprintf(w, "limiter: initial %d, min %d, max %d\n", l.InitialLimit, l.MinLimit, l.MaxLimit)
	for i, c := range l.Classes {
		fmt.Fprintf(w, "  class %d %s: max_queue %d, max_wait %v\n", i, c.Name, c.MaxQueue, c.MaxWait)
	}
	fmt.Fprintf(w, "cache: max_bytes %d\n", cfg.Cache.MaxBytes)
	if sh := cfg.Cache.Shared; sh != nil {
		fmt.Fprintf(w, "shared cache: redis %s timeout %v local_ttl %v breaker %d failures / %v prefix %q\n",
			strings.Join(sh.Redis, ","), sh.Timeout, sh.LocalTTL, sh.BreakerFailures, sh.BreakerOpen, sh.Prefix)
	}
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		methods := strings.Join(r.MethodList(), ",")
		if methods == "" {
			methods = "any"
		}
		var extra []string
		if r.Key != "" {
			extra = append(extra, "key "+r.Key)
		}
		if r.Cache != nil {
			extra = append(extra, fmt.Sprintf("cache ttl %s stale_for %v", r.Cache.TTL, r.Cache.StaleFor))
		}
		if r.Coalesce {
			extra = append(extra, "coalesced")
		}
		if r.PerKey != nil {
			extra = append(extra, fmt.Sprintf("per_key %g/%v", r.PerKey.Rate, r.PerKey.Per))
		}
		if len(r.Invalidates) > 0 {
			extra = append(extra, "invalidates "+strings.Join(r.Invalidates, ","))
		}
		fmt.Fprintf(w, "route %s: %s %s -> %s, class %s", r.Name, methods, r.Path, r.Upstream, r.Class)
		if len(extra) > 0 {
			fmt.Fprintf(w, "; %s", strings.Join(extra, "; "))
		}
		fmt.Fprintln(w)
	}
}
