package configs

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// methods are the route methods accepted; "" means any.
var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// validator checks a decoded Config, completes the defaults that depend on
// other fields, and reports problems through the decoder that knows lines.
type validator struct {
	c *Config
	d *decoder
}

func validate(c *Config, d *decoder) {
	v := &validator{c: c, d: d}
	v.server()
	v.upstreams()
	v.limiter()
	v.cache()
	v.routes()
}

func (v *validator) errf(key, format string, args ...any) {
	v.d.errorf(v.d.lineOf(key), key, format, args...)
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.errf(key, "must be a positive duration, got %v", d)
	}
}

func (v *validator) nonNegative(key string, d time.Duration) {
	if d < 0 {
		v.errf(key, "must not be negative, got %v", d)
	}
}

// adminToken reads the admin token from the file or environment variable
// the config names, at most one source being set.
func (v *validator) adminToken(s *Server) {
	var set []string
	for key, val := range map[string]string{"server.admin_token": s.AdminToken,
		"server.admin_token_file": s.AdminTokenFile, "server.admin_token_env": s.AdminTokenEnv} {
		if val != "" {
			set = append(set, key)
		}
	}
	if len(set) > 1 {
		slices.Sort(set)
		v.errf(set[1], "set only one of %s", strings.Join(set, ", "))
		return
	}
	switch {
	case s.AdminTokenFile != "":
		b, err := os.ReadFile(s.AdminTokenFile)
		if err != nil {
			v.errf("server.admin_token_file", "%v", err)
			return
		}
		if s.AdminToken = strings.TrimSpace(string(b)); s.AdminToken == "" {
			v.errf("server.admin_token_file", "%s is empty", s.AdminTokenFile)
		}
	case s.AdminTokenEnv != "":
		if s.AdminToken = strings.TrimSpace(os.Getenv(s.AdminTokenEnv)); s.AdminToken == "" {
			v.errf("server.admin_token_env", "environment variable %s is unset or empty", s.AdminTokenEnv)
		}
	}
}

func (v *validator) server() {
	s := &v.c.Server
	v.hostPort("server.listen", s.Listen, true)
	v.hostPort("server.admin_listen", s.AdminListen, true)
	if s.Listen == s.AdminListen && !strings.HasSuffix(s.Listen, ":0") {
		v.errf("server.admin_listen", "same address as server.listen (%s)", s.Listen)
	}
	v.positive("server.read_timeout", s.ReadTimeout)
	v.positive("server.write_timeout", s.WriteTimeout)
	v.positive("server.drain_timeout", s.DrainTimeout)
	v.nonNegative("server.drain_delay", s.DrainDelay)
	v.positive("server.idle_timeout", s.IdleTimeout)
	if s.MaxConns < 0 {
		v.errf("server.max_conns", "must not be negative, got %d", s.MaxConns)
	}
	if s.ProbeListen != "" {
		v.hostPort("server.probe_listen", s.ProbeListen, true)
		if (s.ProbeListen == s.Listen || s.ProbeListen == s.AdminListen) && !strings.HasSuffix(s.ProbeListen, ":0") {
			v.errf("server.probe_listen", "same address as server.listen or server.admin_listen (%s)", s.ProbeListen)
		}
	}
	v.adminToken(s)
	if s.AccessLog.PerSecond < 0 {
		v.errf("server.access_log.per_second", "must not be negative, got %d", s.AccessLog.PerSecond)
	}
	if s.AccessLog.OneIn < 0 {
		v.errf("server.access_log.one_in", "must not be negative, got %d", s.AccessLog.OneIn)
	}
	if s.MaxHeaderBytes <= 0 {
		v.errf("server.max_header_bytes", "must be > 0, got %d", s.MaxHeaderBytes)
	}
	if s.MaxBodyBytes <= 0 {
		v.errf("server.max_body_bytes", "must be > 0, got %d", s.MaxBodyBytes)
	}
	if s.AdminToken != "" && len(s.AdminToken) < 16 {
		v.errf("server.admin_token", "too short to guess-proof (%d characters): use at least 16", len(s.AdminToken))
	}
	if !IsLoopback(s.AdminListen) && s.AdminToken == "" {
		v.errf("server.admin_listen", "%q is not a loopback address: anyone who reaches it could reload the config "+
			"and read every figure; keep it on 127.0.0.1 or [::1], or set server.admin_token", s.AdminListen)
	}
	for i, p := range s.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			v.errf(fmt.Sprintf("server.trusted_proxies[%d]", i), "%v", err)
		}
	}
}

// IsLoopback reports whether a listen address binds only loopback
// interfaces: 127.0.0.0/8, ::1 or localhost. An empty host binds all.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true // reported by hostPort
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ParsePrefix reads a trusted_proxies entry: an address (10.1.2.3, ::1)
// or a CIDR block (10.0.0.0/8).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("want an address or a CIDR block such as 10.0.0.0/8, got %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("want an address or a CIDR block such as 10.0.0.0/8, got %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// hostPort checks a host:port address; listen addresses may leave the host
// empty (all interfaces) and use port 0 (any free port).
func (v *validator) hostPort(key, addr string, listen bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || strings.Contains(addr, "/") {
		v.errf(key, "want host:port (such as 127.0.0.1:9000), got %q", addr)
		return
	}
	n, err := strconv.Atoi(port)
	low := 1
	if listen {
		low = 0
	}
	if err != nil || n < low || n > 65535 {
		v.errf(key, "bad port %q in %q: want a number from %d to 65535", port, addr, low)
	}
	if host == "" && !listen {
		v.errf(key, "want host:port, got %q (no host)", addr)
	}
}

func (v *validator) upstreams() {
	if len(v.c.Upstreams) == 0 {
		v.errf("upstreams", "at least one upstream is required")
		return
	}
	for _, name := range v.c.UpstreamNames() {
		key, u := join("upstreams", name), v.c.Upstreams[name]
		v.name(key, name)
		if len(u.Targets) == 0 {
			v.errf(key+".targets", "at least one target (host:port) is required")
		}
		seen := map[string]int{}
		for i, t := range u.Targets {
			tk := fmt.Sprintf("%s.targets[%d]", key, i)
			if j, dup := seen[t]; dup {
				v.errf(tk, "duplicate target %q (also targets[%d])", t, j)
			}
			seen[t] = i
			v.hostPort(tk, t, false)
		}
		v.positive(key+".timeout", u.Timeout)
		if u.MaxConnsPerTarget < 1 {
			v.errf(key+".max_conns_per_target", "must be >= 1, got %d", u.MaxConnsPerTarget)
		}
		v.deadlineHeader(key+".deadline_header", u.DeadlineHeader)
		v.health(key+".health", &u.Health)
		v.outlier(key+".outlier", &u.Outlier)
		v.retry(key+".retry", &u.Retry)
	}
}

// name checks the name of an upstream, class or route.
func (v *validator) name(key, name string) bool {
	if name == "" {
		v.errf(key, "a name is required")
		return false
	}
	if strings.IndexFunc(name, notWord) >= 0 {
		v.errf(key, "bad name %q: want letters, digits, '_' or '-'", name)
		return false
	}
	return true
}

func (v *validator) limiter() {
	l := &v.c.Limiter
	switch {
	case l.MinLimit < 1:
		v.errf("limiter.min_limit", "must be >= 1, got %d", l.MinLimit)
	case l.MinLimit > l.InitialLimit:
		v.errf("limiter.min_limit", "%d is above initial_limit %d", l.MinLimit, l.InitialLimit)
	}
	if l.InitialLimit > l.MaxLimit {
		v.errf("limiter.initial_limit", "%d is above max_limit %d", l.InitialLimit, l.MaxLimit)
	}
	if len(l.Classes) == 0 {
		v.errf("limiter.classes", "at least one priority class is required")
	}
	seen := map[string]int{}
	for i, c := range l.Classes {
		key := fmt.Sprintf("limiter.classes[%d]", i)
		if v.name(key+".name", c.Name) {
			if j, dup := seen[c.Name]; dup {
				v.errf(key+".name", "duplicate class %q (also classes[%d])", c.Name, j)
			}
			seen[c.Name] = i
		}
		if c.MaxQueue < 0 {
			v.errf(key+".max_queue", "must be >= 0, got %d", c.MaxQueue)
		}
		v.positive(key+".max_wait", c.MaxWait)
	}
}

func (v *validator) cache() {
	if v.c.Cache.MaxBytes < MinCacheBytes {
		v.errf("cache.max_bytes", "must be at least %d (32 MiB), got %d", MinCacheBytes, v.c.Cache.MaxBytes)
	}
	v.positive("cache.persist_every", v.c.Cache.PersistEvery)
	if sh := v.c.Cache.Shared; sh != nil {
		if len(sh.Redis) == 0 {
			v.errf("cache.shared.redis", "at least one Redis address (host:port) is required")
		}
		for i, addr := range sh.Redis {
			v.hostPort(fmt.Sprintf("cache.shared.redis[%d]", i), addr, false)
		}
		v.positive("cache.shared.timeout", sh.Timeout)
		v.positive("cache.shared.local_ttl", sh.LocalTTL)
		v.positive("cache.shared.breaker_open", sh.BreakerOpen)
		if sh.BreakerFailures < 1 {
			v.errf("cache.shared.breaker_failures", "must be >= 1, got %d", sh.BreakerFailures)
		}
		if sh.Prefix == "" {
			v.errf("cache.shared.prefix", "must not be empty")
		}
	}
}

func (v *validator) routes() {
	if len(v.c.Routes) == 0 {
		v.errf("routes", "at least one route is required")
		return
	}
	index := map[string]int{}
	for i := range v.c.Routes {
		r, key := &v.c.Routes[i], fmt.Sprintf("routes[%d]", i)
		if v.name(key+".name", r.Name) {
			if j, dup := index[r.Name]; dup {
				v.errf(key+".name", "duplicate route name %q (also routes[%d])", r.Name, j)
			} else {
				index[r.Name] = i
			}
		}
		v.route(i, r)
	}
	for i := range v.c.Routes {
		v.invalidates(i, index)
	}
}

func (v *validator) route(i int, r *Route) {
	key := fmt.Sprintf("routes[%d]", i)
	if r.Method != "" && !contains(methods, r.Method) {
		v.errf(key+".method", "unknown method %q (want %s, or none for any)", r.Method, strings.Join(methods, ", "))
	}
	if r.Method != "" && len(r.Methods) > 0 {
		v.errf(key+".methods", "set method or methods, not both")
	}
	for j, m := range r.Methods {
		switch {
		case !contains(methods, m):
			v.errf(fmt.Sprintf("%s.methods[%d]", key, j), "unknown method %q (want %s)", m, strings.Join(methods, ", "))
		case contains(r.Methods[:j], m):
			v.errf(fmt.Sprintf("%s.methods[%d]", key, j), "%s listed twice", m)
		}
	}
	if !v.d.set[key+".idempotent"] {
		list := r.MethodList()
		r.Idempotent = len(list) > 0
		for _, m := range list {
			r.Idempotent = r.Idempotent && (m == "GET" || m == "HEAD" || m == "OPTIONS")
		}
	}
	if r.IdempotencyKey != "" && !headerName.MatchString(r.IdempotencyKey) {
		v.errf(key+".idempotency_key", "%q is not a header name", r.IdempotencyKey)
	}
	v.reference(key+".upstream", "upstream", r.Upstream, v.c.UpstreamNames())
	classes := make([]string, len(v.c.Limiter.Classes))
	for j, c := range v.c.Limiter.Classes {
		classes[j] = c.Name
	}
	v.reference(key+".class", "class", r.Class, classes)
	if v.d.set[key+".timeout"] {
		v.positive(key+".timeout", r.Timeout)
	}
	if r.Path == "" {
		v.errf(key+".path", "a path template is required (such as /v1/codes/{id} or /*)")
		return
	}
	t, err := ParseTemplate(r.Path)
	if err != nil {
		v.errf(key+".path", "%v", err)
		return
	}
	r.Template = t
	v.shadowed(i, r)
	if r.Key != "" {
		if r.KeyTemplate, err = ParseKey(r.Key, t); err != nil {
			v.errf(key+".key", "%v", err)
			return
		}
	}
	v.routeCache(key, r)
	v.perKey(key, r)
	if r.Query != QueryKey && r.Query != QueryDrop {
		v.errf(key+".query", "want %q or %q, got %q", QueryKey, QueryDrop, r.Query)
	}
	if r.Host != HostKey && r.Host != HostIgnore {
		v.errf(key+".host", "want %q or %q, got %q", HostKey, HostIgnore, r.Host)
	}
	v.validators(key+".validate", r)
	if r.Coalesce {
		v.needsKey(key+".coalesce", r)
		v.safeMethod(key+".coalesce", "coalescing", r.MethodList())
	}
}

// validators checks that each entry of a route's validate names one of
// its path parameters and a known validator or a /regular expression/.
func (v *validator) validators(key string, r *Route) {
	params := r.Template.Params()
	for name, check := range r.Validate {
		k := key + "." + name
		if !contains(params, name) {
			v.errf(k, "no parameter {%s} in path %s (have %s)", name, r.Path, strings.Join(params, ", "))
			continue
		}
		if _, err := ParseValidator(check); err != nil {
			v.errf(k, "%v", err)
		}
	}
}

// ParseValidator reads a value of Route.Validate: the name of a validator
// (see Validators), or a regular expression between slashes, returned
// compiled and anchored so that it must match the whole value.
func ParseValidator(s string) (*regexp.Regexp, error) {
	if len(s) >= 2 && s[0] == '/' && s[len(s)-1] == '/' {
		re, err := regexp.Compile(`^(?:` + s[1:len(s)-1] + `)$`)
		if err != nil {
			return nil, fmt.Errorf("bad regular expression %s: %v", s, err)
		}
		return re, nil
	}
	if contains(Validators, s) {
		return nil, nil
	}
	return nil, fmt.Errorf("unknown validator %q (want %s, or a regular expression such as /[0-9]{6}/)",
		s, strings.Join(Validators, ", "))
}

// reference checks that a route names one of have; when there is none to
// name, that is reported once, not for every route.
func (v *validator) reference(key, what, name string, have []string) {
	switch {
	case len(have) == 0:
	case name == "":
		v.errf(key, "missing: every route names its %s (have %s)", what, strings.Join(have, ", "))
	case !contains(have, name):
		v.errf(key, "unknown %s %q (have %s)", what, name, strings.Join(have, ", "))
	}
}

// shadowed refuses a route that an earlier one always matches first.
func (v *validator) shadowed(i int, r *Route) {
	for j := range i {
		e := &v.c.Routes[j]
		if e.Template.Raw == "" || !coversMethods(e.MethodList(), r.MethodList()) {
			continue
		}
		if e.Template.shape() == r.Template.shape() || e.Template.Raw == "/*" {
			v.errf(fmt.Sprintf("routes[%d].path", i), "unreachable: routes[%d] (%s %s %s) matches first",
				j, e.Name, orAny(e.MethodList()), e.Template.Raw)
			return
		}
	}
}

func (v *validator) routeCache(key string, r *Route) {
	c := r.Cache
	if c == nil {
		return
	}
	key += ".cache"
	v.safeMethod(key, "caching", r.MethodList())
	v.needsKey(key, r)
	v.nonNegative(key+".max_ttl", c.MaxTTL)
	v.nonNegative(key+".stale_for", c.StaleFor)
	if c.TTL == TTLUpstream {
		return
	}
	ttl, err := time.ParseDuration(c.TTL)
	switch {
	case err != nil:
		v.errf(key+".ttl", "want %q or a duration such as 1h, got %q", TTLUpstream, c.TTL)
	case ttl <= 0:
		v.errf(key+".ttl", "must be a positive duration, got %v", ttl)
	case c.MaxTTL > 0 && ttl > c.MaxTTL:
		v.errf(key+".ttl", "%v is above max_ttl %v", ttl, c.MaxTTL)
	}
}

func (v *validator) perKey(key string, r *Route) {
	p := r.PerKey
	if p == nil {
		return
	}
	key += ".per_key"
	v.needsKey(key, r)
	if !(p.Rate > 0) || math.IsInf(p.Rate, 0) {
		v.errf(key+".rate", "must be a positive number, got %v", p.Rate)
	}
	v.positive(key+".per", p.Per)
	switch {
	case p.Burst < 0:
		v.errf(key+".burst", "must be >= 0, got %d", p.Burst)
	case p.Burst == 0 && p.Rate > 0:
		p.Burst = int(max(1, math.Min(math.Ceil(p.Rate), math.MaxInt32)))
	}
}

// needsKey refuses a keyed feature on a route whose path varies (params or
// wildcard) but which has no key: every request would share one identity.
func (v *validator) needsKey(key string, r *Route) {
	if r.Key == "" && (len(r.Template.Params()) > 0 || r.Template.HasWildcard()) {
		v.errf(key, "needs a key: path %s varies, so give the route a key such as %q", r.Path, keyHint(r.Template))
	}
}

func keyHint(t Template) string {
	if p := t.Params(); len(p) > 0 {
		return "{" + strings.Join(p, "}:{") + "}"
	}
	return "{id}"
}

func (v *validator) safeMethod(key, what string, list []string) {
	ok := len(list) > 0
	for _, m := range list {
		ok = ok && (m == "GET" || m == "HEAD")
	}
	if !ok {
		v.errf(key, "%s needs method GET or HEAD, route has %s", what, orAny(list))
	}
}

// coversMethods reports whether a route matching the methods in e (nil:
// any) matches every request a route matching those in r does.
func coversMethods(e, r []string) bool {
	if len(e) == 0 {
		return true
	}
	if len(r) == 0 {
		return false
	}
	for _, m := range r {
		if !contains(e, m) {
			return false
		}
	}
	return true
}

func (v *validator) invalidates(i int, index map[string]int) {
	r := &v.c.Routes[i]
	seen := map[string]bool{}
	for n, name := range r.Invalidates {
		key := fmt.Sprintf("routes[%d].invalidates[%d]", i, n)
		j, ok := index[name]
		switch {
		case !ok:
			v.errf(key, "unknown route %q", name)
		case seen[name]:
			v.errf(key, "route %q listed twice", name)
		case v.c.Routes[j].Cache == nil:
			v.errf(key, "route %q has no cache to invalidate", name)
		case r.Key == "" && v.c.Routes[j].Key != "":
			v.errf(key, "route %q is keyed by %s: give this route a key too", name, v.c.Routes[j].Key)
		}
		seen[name] = true
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func orAny(list []string) string {
	if len(list) == 0 {
		return "any method"
	}
	return strings.Join(list, ",")
}

// headerName is an HTTP header field name (RFC 9110's token).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
