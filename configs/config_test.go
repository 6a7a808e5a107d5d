package configs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestShippedConfig(t *testing.T) {
	c, err := Load("gateway.yaml")
	if err != nil {
		t.Fatalf("Load(gateway.yaml): %v", err)
	}
	if c.Path != "gateway.yaml" || len(c.Hash) != 64 {
		t.Fatalf("Path %q Hash %q; want gateway.yaml and a sha256", c.Path, c.Hash)
	}
	if got := c.Server.Listen; got != "127.0.0.1:8080" {
		t.Fatalf("listen %q; want 127.0.0.1:8080", got)
	}
	if got := c.Upstreams["issuer"].Targets; !reflect.DeepEqual(got, []string{"127.0.0.1:9000"}) {
		t.Fatalf("issuer targets %v; want [127.0.0.1:9000]", got)
	}
	if got := c.UpstreamNames(); !reflect.DeepEqual(got, []string{"issuer"}) {
		t.Fatalf("UpstreamNames() = %v; want [issuer]", got)
	}
	want := []struct{ name, method, path, class, key string }{
		{"code", "GET", "/v1/codes/{id}", "normal", "{id}"},
		{"reissue", "POST", "/v1/codes/{id}/reissue", "low", "{id}"},
		{"relative", "GET", "/v1/codes/{id}/relatives/{rid}", "low", "{id}:{rid}"},
		{"scan", "POST", "/v1/scans", "critical", ""},
		{"keys", "GET", "/v1/keys", "normal", ""},
		{"health", "GET", "/v1/health/{id}", "high", "{id}"},
		{"checkin", "POST", "/v1/venues/{venue}/checkins", "high", ""},
		{"passthrough", "", "/*", "normal", ""},
	}
	if len(c.Routes) != len(want) {
		t.Fatalf("%d routes; want %d", len(c.Routes), len(want))
	}
	for i, w := range want {
		r := c.Routes[i]
		if r.Name != w.name || r.Method != w.method || r.Path != w.path || r.Class != w.class || r.Key != w.key || r.Upstream != "issuer" {
			t.Fatalf("routes[%d] = %s %q %s %s %q; want %+v", i, r.Name, r.Method, r.Path, r.Class, r.Key, w)
		}
	}
	code := c.Routes[0]
	if ttl, fixed := code.Cache.FixedTTL(); fixed || ttl != 0 || code.Cache.MaxTTL != 720*time.Hour || code.Cache.StaleFor != 24*time.Hour {
		t.Fatalf("code cache %+v; want ttl upstream, max_ttl 720h, stale_for 24h", *code.Cache)
	}
	if !code.Coalesce || *code.PerKey != (PerKey{Rate: 5, Per: time.Second, Burst: 10}) || !code.Idempotent {
		t.Fatalf("code route %+v; want coalesce, per_key 5/1s burst 10, idempotent", code)
	}
	if r := c.Routes[1]; !reflect.DeepEqual(r.Invalidates, []string{"code"}) || r.Idempotent {
		t.Fatalf("reissue invalidates %v idempotent %v; want [code] false", r.Invalidates, r.Idempotent)
	}
	if ttl, fixed := c.Routes[4].Cache.FixedTTL(); !fixed || ttl != time.Hour {
		t.Fatalf("keys FixedTTL() = %v, %v; want 1h, true", ttl, fixed)
	}
	if !c.Routes[7].Template.HasWildcard() {
		t.Fatalf("passthrough template %+v; want a wildcard", c.Routes[7].Template)
	}
	for i, name := range []string{"critical", "high", "normal", "low", "urgent"} {
		if want := map[bool]int{true: i, false: -1}[i < 4]; c.ClassIndex(name) != want {
			t.Fatalf("ClassIndex(%q) = %d; want %d", name, c.ClassIndex(name), want)
		}
	}
}

// minimal is the smallest valid config; its route is on line 6.
const minimal = `upstreams:
  issuer: {targets: ["127.0.0.1:9000"]}
limiter:
  classes: [{name: high}, {name: low}]
routes:
  - {name: a, method: GET, path: "/a/{id}", upstream: issuer, class: high, key: "{id}", cache: {}}
`

func TestDefaults(t *testing.T) {
	c, err := Parse("min.yaml", []byte(minimal+"  - {name: b, path: /b, upstream: issuer, class: low, per_key: {rate: 2.5}}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wantServer := Server{Listen: ":8080", AdminListen: "127.0.0.1:9090", ReadTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, MaxHeaderBytes: 16384, MaxBodyBytes: 65536, DrainTimeout: 30 * time.Second}
	if !reflect.DeepEqual(c.Server, wantServer) {
		t.Fatalf("server %+v; want %+v", c.Server, wantServer)
	}
	if u := c.Upstreams["issuer"]; u.Timeout != 2*time.Second || u.MaxConnsPerTarget != 1024 {
		t.Fatalf("upstream %+v; want timeout 2s, max_conns_per_target 1024", *u)
	}
	u := c.Upstreams["issuer"]
	if u.DeadlineHeader != "X-Request-Deadline" || u.Health != (Health{Interval: time.Second, Timeout: 500 * time.Millisecond, HealthyAfter: 2, UnhealthyAfter: 2}) {
		t.Fatalf("upstream deadline_header %q health %+v; want X-Request-Deadline, no path, 1s, 500ms, 2, 2", u.DeadlineHeader, u.Health)
	}
	wantOutlier := Outlier{ConsecutiveFailures: 5, FailureRatio: 0.3, MinRequests: 20, Window: 10 * time.Second,
		BaseEjection: time.Second, MaxEjection: 30 * time.Second, HalfOpenProbes: 3}
	if u.Outlier != wantOutlier || u.Retry != (Retry{Attempts: 2, BudgetRatio: 0.1, MinPerSecond: 3}) {
		t.Fatalf("upstream outlier %+v retry %+v; want %+v and 2 attempts, 0.1, 3/s", u.Outlier, u.Retry, wantOutlier)
	}
	l := c.Limiter
	if l.InitialLimit != 20 || l.MinLimit != 2 || l.MaxLimit != 1000 {
		t.Fatalf("limiter %+v; want 20, 2, 1000", l)
	}
	if l.Classes[1] != (Class{Name: "low", MaxQueue: 1000, MaxWait: time.Second}) {
		t.Fatalf("class %+v; want max_queue 1000, max_wait 1s", l.Classes[1])
	}
	if c.Cache != (Cache{MaxBytes: 512 << 20, PersistEvery: time.Minute}) {
		t.Fatalf("cache %+v; want 512 MiB, persist_every 1m", c.Cache)
	}
	a, b := c.Routes[0], c.Routes[1]
	if a.Cache.TTL != TTLUpstream || a.Cache.MaxTTL != 0 || a.Cache.StaleFor != 0 || !a.Idempotent || a.Timeout != 0 {
		t.Fatalf("route a %+v cache %+v; want ttl upstream, idempotent", a, *a.Cache)
	}
	if b.Method != "" || b.Idempotent || *b.PerKey != (PerKey{Rate: 2.5, Per: time.Second, Burst: 3}) {
		t.Fatalf("route b %+v per_key %+v; want any method, not idempotent, per 1s, burst 3", b, *b.PerKey)
	}
}

func TestMergeAndAnchors(t *testing.T) {
	c, err := Parse("anchors.yaml", []byte(minimal+
		"  - &r {name: b, path: /b, upstream: issuer, class: low, timeout: 1s}\n"+
		"  - {<<: *r, name: c, path: /c}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if r := c.Routes[2]; r.Name != "c" || r.Path != "/c" || r.Class != "low" || r.Timeout != time.Second {
		t.Fatalf("merged route %+v; want c /c low 1s", r)
	}
}

func TestBadConfigs(t *testing.T) {
	f := func(name, yaml string, wantLine int, wantKey, wantSubstr string) {
		t.Helper()
		file := name + ".yaml"
		_, err := Parse(file, []byte(yaml))
		if err == nil {
			t.Fatalf("%s: no error; want %s:%d: %s: ...%s", name, file, wantLine, wantKey, wantSubstr)
		}
		prefix := file + ":" + strconv.Itoa(wantLine) + ": " + wantKey + ": "
		for _, line := range strings.Split(err.Error(), "\n") {
			if strings.HasPrefix(line, prefix) && strings.Contains(line[len(prefix):], wantSubstr) {
				var e *Error
				if !errors.As(err, &e) || e.File != file {
					t.Fatalf("%s: errors.As(*Error) = %+v", name, e)
				}
				return
			}
		}
		t.Fatalf("%s: error\n%v\nhas no line %q...%q", name, err, prefix, wantSubstr)
	}
	const head = "upstreams:\n  issuer: {targets: [\"127.0.0.1:9000\"]}\n"
	const classes = "limiter:\n  classes: [{name: high}, {name: low}]\n"
	const routes = "routes:\n  - {name: a, path: /a, upstream: issuer, class: high}\n"

	// Decoding: unknown keys, types, durations, duplicates, documents.
	f("unknown_key", minimal+"server:\n  lisen: \":80\"\n", 8, "server.lisen", "unknown key (did you mean listen?)")
	f("unknown_deep", minimal+"  - {name: b, path: /b, upstream: issuer, class: low,\n     cache: {tll: 1m}}\n", 8, "routes[1].cache.tll", "unknown key")
	f("unknown_top", "servers: {}\n"+minimal, 1, "servers", "unknown key")
	f("string_for_int", minimal+"server:\n  max_body_bytes: big\n", 8, "server.max_body_bytes", `want an integer, got "big"`)
	f("float_for_int", minimal+"server: {max_header_bytes: 1.5}\n", 7, "server.max_header_bytes", "want an integer")
	f("list_for_map", minimal+"server:\n  - listen\n", 8, "server", "want a mapping, got a list")
	f("map_for_list", head+classes+"routes: {a: 1}\n", 5, "routes", "want a list, got a mapping")
	f("string_for_bool", minimal+"  - {name: b, path: /b, upstream: issuer, class: low, coalesce: yes}\n", 7, "routes[1].coalesce", "want true or false")
	f("bad_duration", minimal+"server:\n  read_timeout: 5 seconds\n", 8, "server.read_timeout", `bad duration "5 seconds"`)
	f("unitless_duration", head+"  other:\n    targets: [\"h:1\"]\n    timeout: 3\n"+classes+routes, 5, "upstreams.other.timeout", `bad duration "3"`)
	f("unquoted_key", minimal+"  - {name: b, path: \"/b/{id}\", upstream: issuer, class: low, key: {id}}\n", 7, "routes[1].key", `quote templates`)
	f("duplicate_key", minimal+"  - name: b\n    path: /b\n    upstream: issuer\n    class: low\n    name: c\n", 11, "routes[1].name", "duplicate key (first at line 7)")
	f("duplicate_section", minimal+"upstreams: {}\n", 7, "upstreams", "duplicate key (first at line 1)")
	f("empty_file", "", 1, "(document)", "empty config file")
	f("comments_only", "# nothing\n\n", 1, "(document)", "empty config file")
	f("not_a_mapping", "- a\n- b\n", 1, "(document)", "want a mapping")
	f("two_documents", minimal+"---\nserver: {}\n", 7, "(document)", "second YAML document")
	f("syntax", "server:\n  listen: [\n", 2, "(yaml)", "did not find expected node content")
	f("list_for_route", minimal+"  - &x [*x]\n", 7, "routes[1]", "want a mapping, got a list")
	f("merge_cycle", minimal+"server: &s {<<: *s}\n", 7, "server", "alias *s refers to itself")

	// Server.
	f("listen_no_port", minimal+"server: {listen: \"8080\"}\n", 7, "server.listen", `want host:port`)
	f("admin_bad_port", minimal+"server:\n  admin_listen: \"127.0.0.1:99999\"\n", 8, "server.admin_listen", "bad port")
	f("zero_drain", minimal+"server:\n  drain_timeout: 0s\n", 8, "server.drain_timeout", "must be a positive duration, got 0s")
	f("negative_write", minimal+"server:\n  write_timeout: -1s\n", 8, "server.write_timeout", "must be a positive duration")
	f("zero_body", minimal+"server:\n  max_body_bytes: 0\n", 8, "server.max_body_bytes", "must be > 0")
	f("negative_header", minimal+"server:\n  max_header_bytes: -5\n", 8, "server.max_header_bytes", "must be > 0")
	f("admin_exposed", minimal+"server:\n  admin_listen: \"0.0.0.0:9090\"\n", 8, "server.admin_listen", "not a loopback address")
	f("admin_all_interfaces", minimal+"server:\n  admin_listen: \":9090\"\n", 8, "server.admin_listen", "set server.admin_token")
	f("admin_token_short", minimal+"server:\n  admin_token: abc\n", 8, "server.admin_token", "at least 16")
	f("trusted_proxy", minimal+"server:\n  trusted_proxies: [10.0.0.0/8, nonsense]\n", 8, "server.trusted_proxies[1]", "CIDR block")
	f("methods_and_method", minimal+"  - {name: q, method: GET, methods: [HEAD], path: /q, upstream: issuer, class: low}\n", 7, "routes[1].methods", "not both")
	f("methods_unknown", minimal+"  - {name: q, methods: [GET, TRACE], path: /q, upstream: issuer, class: low}\n", 7, "routes[1].methods[1]", `unknown method "TRACE"`)
	f("methods_twice", minimal+"  - {name: q, methods: [GET, GET], path: /q, upstream: issuer, class: low}\n", 7, "routes[1].methods[1]", "listed twice")
	f("methods_cache_post", minimal+"  - {name: q, methods: [GET, POST], path: /q, upstream: issuer, class: low, cache: {}}\n", 7, "routes[1].cache", "route has GET,POST")
	f("methods_shadowed", minimal+"  - {name: q, methods: [GET], path: \"/a/{x}\", upstream: issuer, class: low}\n", 7, "routes[1].path", "unreachable")
	f("route_query", minimal+"  - {name: q, path: /q, upstream: issuer, class: low, query: strip}\n", 7, "routes[1].query", `want "key" or "drop"`)
	f("route_host", minimal+"  - {name: q, path: /q, upstream: issuer, class: low, host: any}\n", 7, "routes[1].host", `want "key" or "ignore"`)
	f("validate_param", minimal+"  - {name: q, path: \"/q/{id}\", upstream: issuer, class: low, validate: {idd: digits}}\n", 7, "routes[1].validate.idd", "no parameter {idd}")
	f("validate_name", minimal+"  - {name: q, path: \"/q/{id}\", upstream: issuer, class: low, validate: {id: resident}}\n", 7, "routes[1].validate.id", "unknown validator")
	f("validate_regexp", minimal+"  - {name: q, path: \"/q/{id}\", upstream: issuer, class: low, validate: {id: \"/[0-9/\"}}\n", 7, "routes[1].validate.id", "bad regular expression")

	// Upstreams.
	f("no_upstreams", classes+routes, 1, "upstreams", "at least one upstream")
	f("no_targets", "upstreams:\n  issuer:\n    timeout: 1s\n"+classes+routes, 2, "upstreams.issuer.targets", "at least one target")
	f("target_url", "upstreams:\n  issuer:\n    targets:\n      - \"http://127.0.0.1:9000\"\n"+classes+routes, 4, "upstreams.issuer.targets[0]", "want host:port")
	f("target_no_port", "upstreams:\n  issuer: {targets: [localhost]}\n"+classes+routes, 2, "upstreams.issuer.targets[0]", `got "localhost"`)
	f("upstream_timeout", "upstreams:\n  issuer:\n    targets: [\"h:1\"]\n    timeout: -2s\n"+classes+routes, 4, "upstreams.issuer.timeout", "must be a positive duration")
	f("max_conns", "upstreams:\n  issuer:\n    targets: [\"h:1\"]\n    max_conns_per_target: 0\n"+classes+routes, 4, "upstreams.issuer.max_conns_per_target", "must be >= 1")
	up := func(name, line string, wantLine int, wantKey, wantSubstr string) {
		t.Helper()
		f(name, "upstreams:\n  issuer:\n    targets: [\"h:1\"]\n"+line+classes+routes, wantLine, wantKey, wantSubstr)
	}
	up("deadline_header_space", "    deadline_header: \"X Deadline\"\n", 4, "upstreams.issuer.deadline_header", `bad header name "X Deadline"`)
	up("deadline_header_host", "    deadline_header: Host\n", 4, "upstreams.issuer.deadline_header", "Host is a header HTTP or the gateway owns")
	up("health_no_path", "    health: {interval: 2s}\n", 4, "upstreams.issuer.health.interval", "has no effect without upstreams.issuer.health.path")
	up("health_relative_path", "    health: {path: healthz}\n", 4, "upstreams.issuer.health.path", `want a path starting with /`)
	up("health_zero_interval", "    health:\n      path: /healthz\n      interval: 0s\n", 6, "upstreams.issuer.health.interval", "must be a positive duration")
	up("health_timeout_above_interval", "    health: {path: /healthz, interval: 1s, timeout: 2s}\n", 4, "upstreams.issuer.health.timeout", "2s is above interval 1s")
	up("health_healthy_after", "    health: {path: /healthz, healthy_after: 0}\n", 4, "upstreams.issuer.health.healthy_after", "must be >= 1, got 0")
	up("health_unhealthy_after", "    health: {path: /healthz, unhealthy_after: -1}\n", 4, "upstreams.issuer.health.unhealthy_after", "must be >= 1, got -1")
	up("health_unknown", "    health: {path: /healthz, intervall: 1s}\n", 4, "upstreams.issuer.health.intervall", "did you mean interval?")
	up("outlier_consecutive", "    outlier: {consecutive_failures: -1}\n", 4, "upstreams.issuer.outlier.consecutive_failures", "must be >= 0")
	up("outlier_ratio", "    outlier:\n      failure_ratio: 1.5\n", 5, "upstreams.issuer.outlier.failure_ratio", "must be from 0 (rule off) to 1, got 1.5")
	up("outlier_ratio_nan", "    outlier: {failure_ratio: .nan}\n", 4, "upstreams.issuer.outlier.failure_ratio", "must be from 0")
	up("outlier_min_requests", "    outlier: {min_requests: 0}\n", 4, "upstreams.issuer.outlier.min_requests", "must be >= 1")
	up("outlier_window", "    outlier: {window: 0s}\n", 4, "upstreams.issuer.outlier.window", "must be a positive duration")
	up("outlier_base", "    outlier: {base_ejection: -1s}\n", 4, "upstreams.issuer.outlier.base_ejection", "must be a positive duration")
	up("outlier_max_below_base", "    outlier: {base_ejection: 10s, max_ejection: 5s}\n", 4, "upstreams.issuer.outlier.max_ejection", "5s is below base_ejection 10s")
	up("outlier_probes", "    outlier: {half_open_probes: 0}\n", 4, "upstreams.issuer.outlier.half_open_probes", "must be >= 1")
	up("outlier_ratio_type", "    outlier: {failure_ratio: half}\n", 4, "upstreams.issuer.outlier.failure_ratio", `want a number, got "half"`)
	up("retry_attempts_zero", "    retry: {attempts: 0}\n", 4, "upstreams.issuer.retry.attempts", "must be from 1 (no retries) to 10, got 0")
	up("retry_attempts_many", "    retry:\n      attempts: 11\n", 5, "upstreams.issuer.retry.attempts", "got 11")
	up("retry_budget_zero", "    retry: {budget_ratio: 0}\n", 4, "upstreams.issuer.retry.budget_ratio", "must be above 0 and at most 1")
	up("retry_budget_big", "    retry: {budget_ratio: 2}\n", 4, "upstreams.issuer.retry.budget_ratio", "got 2")
	up("retry_floor", "    retry: {min_per_second: 0}\n", 4, "upstreams.issuer.retry.min_per_second", "must be a positive number")
	up("retry_floor_inf", "    retry: {min_per_second: .inf}\n", 4, "upstreams.issuer.retry.min_per_second", "must be a positive number")
	up("retry_unknown", "    retry: {budget: 0.1}\n", 4, "upstreams.issuer.retry.budget", "unknown key")

	// Limiter.
	f("no_classes", head+"limiter:\n  min_limit: 1\n"+routes, 3, "limiter.classes", "at least one priority class")
	f("no_limiter", head+routes, 1, "limiter.classes", "at least one priority class")
	f("duplicate_limiter", minimal+"limiter: {}\n", 7, "limiter", "duplicate key")
	f("min_limit", head+"limiter:\n  min_limit: 0\n  classes: [{name: high}]\n"+routes, 4, "limiter.min_limit", "must be >= 1")
	f("min_above_initial", head+"limiter:\n  min_limit: 30\n  classes: [{name: high}]\n"+routes, 4, "limiter.min_limit", "30 is above initial_limit 20")
	f("initial_above_max", head+"limiter:\n  max_limit: 10\n  classes: [{name: high}]\n"+routes, 3, "limiter.initial_limit", "20 is above max_limit 10")
	f("duplicate_class", head+"limiter:\n  classes:\n    - {name: high}\n    - {name: high}\n"+routes, 6, "limiter.classes[1].name", `duplicate class "high"`)
	f("class_no_name", head+"limiter:\n  classes:\n    - {max_queue: 5}\n"+routes, 5, "limiter.classes[0].name", "a name is required")
	f("negative_queue", head+"limiter:\n  classes:\n    - name: high\n      max_queue: -1\n"+routes, 6, "limiter.classes[0].max_queue", "must be >= 0")
	f("zero_wait", head+"limiter:\n  classes:\n    - name: high\n      max_wait: 0s\n"+routes, 6, "limiter.classes[0].max_wait", "must be a positive duration")

	// Cache.
	f("cache_small", minimal+"cache:\n  max_bytes: 1048576\n", 8, "cache.max_bytes", "must be at least 33554432")
	f("persist_every", minimal+"cache: {persist_every: 0s}\n", 7, "cache.persist_every", "must be a positive duration")

	// Routes.
	f("no_routes", head+classes+"routes: []\n", 5, "routes", "at least one route")
	f("missing_routes", head+classes, 1, "routes", "at least one route")
	f("unknown_upstream", minimal+"  - {name: b, path: /b, upstream: issuerr, class: low}\n", 7, "routes[1].upstream", `unknown upstream "issuerr" (have issuer)`)
	f("unknown_class", minimal+"  - name: b\n    path: /b\n    upstream: issuer\n    class: urgent\n", 10, "routes[1].class", `unknown class "urgent" (have high, low)`)
	f("missing_class", minimal+"  - name: b\n    path: /b\n    upstream: issuer\n", 7, "routes[1].class", "missing")
	f("missing_path", minimal+"  - {name: b, upstream: issuer, class: low}\n", 7, "routes[1].path", "a path template is required")
	f("missing_name", minimal+"  - {path: /b, upstream: issuer, class: low}\n", 7, "routes[1].name", "a name is required")
	f("duplicate_route", minimal+"  - {name: a, path: /b, upstream: issuer, class: low}\n", 7, "routes[1].name", `duplicate route name "a"`)
	f("invalidates_unknown", minimal+"  - name: b\n    path: /b/{id}\n    upstream: issuer\n    class: low\n    key: \"{id}\"\n    invalidates: [a, z]\n", 12, "routes[1].invalidates[1]", `unknown route "z"`)
	f("invalidates_uncached", minimal+"  - {name: b, path: /b, upstream: issuer, class: low, invalidates: [b]}\n", 7, "routes[1].invalidates[0]", `route "b" has no cache`)
	f("bad_method", minimal+"  - {name: b, method: get, path: /b, upstream: issuer, class: low}\n", 7, "routes[1].method", `unknown method "get"`)
	f("cache_on_post", minimal+"  - name: b\n    method: POST\n    path: /b\n    upstream: issuer\n    class: low\n    cache: {ttl: 1m}\n", 12, "routes[1].cache", "caching needs method GET or HEAD, route has POST")
	f("cache_any_method", minimal+"  - {name: b, path: /b, upstream: issuer, class: low, cache: {}}\n", 7, "routes[1].cache", "route has any method")
	f("cache_no_key", minimal+"  - {name: b, method: GET, path: \"/b/{id}\", upstream: issuer, class: low, cache: {}}\n", 7, "routes[1].cache", "needs a key")
	f("coalesce_post", minimal+"  - {name: b, method: POST, path: /b, upstream: issuer, class: low, coalesce: true}\n", 7, "routes[1].coalesce", "coalescing needs method GET or HEAD")
	f("ttl_zero", minimal+"  - name: b\n    method: GET\n    path: /b\n    upstream: issuer\n    class: low\n    cache:\n      ttl: 0s\n", 13, "routes[1].cache.ttl", "must be a positive duration")
	f("ttl_word", minimal+"  - {name: b, method: GET, path: /b, upstream: issuer, class: low, cache: {ttl: forever}}\n", 7, "routes[1].cache.ttl", `want "upstream" or a duration`)
	f("ttl_above_max", minimal+"  - {name: b, method: GET, path: /b, upstream: issuer, class: low, cache: {ttl: 2h, max_ttl: 1h}}\n", 7, "routes[1].cache.ttl", "2h0m0s is above max_ttl 1h0m0s")
	f("negative_stale", minimal+"  - {name: b, method: GET, path: /b, upstream: issuer, class: low, cache: {stale_for: -1s}}\n", 7, "routes[1].cache.stale_for", "must not be negative")
	f("route_timeout", minimal+"  - {name: b, path: /b, upstream: issuer, class: low, timeout: 0s}\n", 7, "routes[1].timeout", "must be a positive duration")
	f("rate_zero", minimal+"  - {name: b, path: /b, upstream: issuer, class: low, per_key: {rate: 0}}\n", 7, "routes[1].per_key.rate", "must be a positive number")
	f("rate_nan", minimal+"  - {name: b, path: /b, upstream: issuer, class: low, per_key: {rate: .nan}}\n", 7, "routes[1].per_key.rate", "must be a positive number")
	f("per_zero", minimal+"  - {name: b, path: /b, upstream: issuer, class: low, per_key: {rate: 1, per: 0s}}\n", 7, "routes[1].per_key.per", "must be a positive duration")
	f("burst_negative", minimal+"  - {name: b, path: /b, upstream: issuer, class: low, per_key: {rate: 1, burst: -1}}\n", 7, "routes[1].per_key.burst", "must be >= 0")
	f("per_key_no_key", minimal+"  - {name: b, path: /*, upstream: issuer, class: low, per_key: {rate: 1}}\n", 7, "routes[1].per_key", "needs a key")
	f("unreachable", minimal+"  - {name: b, path: /*, upstream: issuer, class: low}\n  - {name: c, method: GET, path: /c, upstream: issuer, class: low}\n", 8, "routes[2].path", "unreachable: routes[1]")
	f("same_shape", minimal+"  - {name: b, method: GET, path: \"/a/{x}\", upstream: issuer, class: low}\n", 7, "routes[1].path", "unreachable: routes[0]")

	// Path and key templates.
	tmpl := func(name, path, want string) {
		t.Helper()
		f(name, minimal+"  - {name: b, path: \""+path+"\", upstream: issuer, class: low}\n", 7, "routes[1].path", want)
	}
	tmpl("path_no_slash", "v1/x", "must start with /")
	tmpl("path_empty_segment", "/v1//x", "empty segment")
	tmpl("path_trailing_slash", "/v1/", "empty segment")
	tmpl("path_partial_param", "/v1/{id}.json", "a param must fill its whole segment")
	tmpl("path_dup_param", "/v1/{id}/{id}", "param {id} appears twice")
	tmpl("path_bad_param", "/v1/{Id}", "param {Id}")
	tmpl("path_star_middle", "/v1/*/x", "* may only be the whole last segment")
	tmpl("path_star_partial", "/v1/x*", "* may only be the whole last segment")
	tmpl("path_query", "/v1/x?a=1", "must not contain ?")
	f("key_not_in_path", minimal+"  - {name: b, path: \"/b/{id}\", upstream: issuer, class: low, key: \"{id}:{rid}\"}\n", 7, "routes[1].key", "param {rid} is not in path /b/{id} (have {id})")
	f("key_unclosed", minimal+"  - {name: b, path: \"/b/{id}\", upstream: issuer, class: low, key: \"{id\"}\n", 7, "routes[1].key", "{ without }")
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v; want an error naming %s", err, path)
	}
}

func TestLoadHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Parse("other.yaml", []byte(minimal+"# comment\n"))
	if a.Hash == b.Hash || a.Path != path || b.Path != "other.yaml" {
		t.Fatalf("hashes %s %s paths %s %s; want different hashes and the given paths", a.Hash, b.Hash, a.Path, b.Path)
	}
}

func TestErrorsJoined(t *testing.T) {
	_, err := Parse("many.yaml", []byte("server:\n  lisen: x\n  port: 1\n"))
	want := "many.yaml:2: server.lisen: unknown key (did you mean listen?)\n" +
		"many.yaml:3: server.port: unknown key (known: admin_listen, admin_token, drain_timeout, listen, max_body_bytes, max_header_bytes, read_timeout, trusted_proxies, write_timeout)"
	if err == nil || err.Error() != want {
		t.Fatalf("error\n%v\nwant\n%s", err, want)
	}
}

var errLine = regexp.MustCompile(`^[^\n]+:\d+: [^\n]+: [^\n]+$`)

func FuzzParse(f *testing.F) {
	shipped, err := os.ReadFile("gateway.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(shipped)
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "  - &x [*x]\n"))
	f.Add([]byte("a: &a [*a, *a]\nb: {<<: *a}\n"))
	f.Add([]byte("routes:\n  - {<<: [{name: a}, {path: /}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !errLine.MatchString(line) {
					t.Fatalf("error line %q is not <file>:<line>: <key>: <what>", line)
				}
			}
			return
		}
		for _, r := range c.Routes {
			if c.ClassIndex(r.Class) < 0 || c.Upstreams[r.Upstream] == nil || r.Template.Raw != r.Path {
				t.Fatalf("accepted route %+v with a dangling reference", r)
			}
		}
	})
}

func TestAliasBombs(t *testing.T) {
	f := func(name, yaml, wantSubstr string) {
		t.Helper()
		start := time.Now()
		_, err := Parse(name, []byte(yaml))
		if err == nil || !strings.Contains(err.Error(), wantSubstr) || strings.Count(err.Error(), wantSubstr) != 1 {
			t.Fatalf("%s: error %v; want one %q", name, err, wantSubstr)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s: Parse took %v", name, d)
		}
	}
	many := "x: &r {name: a, invalidates: [" + strings.Repeat("a, ", 200) + "a]}\nroutes: [" + strings.Repeat("*r, ", 2000) + "*r]\n"
	f("many_aliases", many, "document too large")
	merges := "x:\n  m0: &m0 {listen: \":1\"}\n"
	for i := 1; i < 30; i++ {
		prev := "*m" + strconv.Itoa(i-1)
		merges += "  m" + strconv.Itoa(i) + ": &m" + strconv.Itoa(i) + " {<<: [" + strings.Repeat(prev+", ", 9) + prev + "]}\n"
	}
	f("merge_bomb", merges+"server: {<<: *m29}\n", "expanding too much")
}

func TestUpstreamProtectionKeys(t *testing.T) {
	c, err := Parse("p.yaml", []byte(`upstreams:
  issuer:
    targets: ["127.0.0.1:9000", "127.0.0.1:9001"]
    deadline_header: ""
    health: {path: "/v1/keys?probe=1", interval: 200ms, timeout: 100ms, healthy_after: 1}
    outlier: {consecutive_failures: 0, failure_ratio: 0.25, max_ejection: 1m}
    retry: {attempts: 1}
limiter:
  classes: [{name: high}]
routes:
  - {name: a, path: /a, upstream: issuer, class: high}
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	u := c.Upstreams["issuer"]
	if u.DeadlineHeader != "" {
		t.Fatalf("deadline_header %q; want \"\" (none) when set so", u.DeadlineHeader)
	}
	if want := (Health{Path: "/v1/keys?probe=1", Interval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond, HealthyAfter: 1, UnhealthyAfter: 2}); u.Health != want {
		t.Fatalf("health %+v; want %+v", u.Health, want)
	}
	if o := u.Outlier; o.ConsecutiveFailures != 0 || o.FailureRatio != 0.25 || o.MaxEjection != time.Minute || o.BaseEjection != time.Second {
		t.Fatalf("outlier %+v; want consecutive rule off, ratio 0.25, max 1m, other defaults", o)
	}
	if u.Retry != (Retry{Attempts: 1, BudgetRatio: 0.1, MinPerSecond: 3}) {
		t.Fatalf("retry %+v; want attempts 1 and the default budget", u.Retry)
	}
}

func TestMethodsList(t *testing.T) {
	c, err := Parse("m.yaml", []byte(minimal+
		"  - {name: k, methods: [GET, HEAD], path: /k, upstream: issuer, class: low, cache: {}, coalesce: true}\n"+
		"  - {name: w, methods: [GET, POST], path: /w, upstream: issuer, class: low}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if k := c.Routes[1]; !k.Idempotent || len(k.MethodList()) != 2 {
		t.Errorf("methods [GET, HEAD]: idempotent %v, list %v; want true, both", k.Idempotent, k.MethodList())
	}
	if w := c.Routes[2]; w.Idempotent {
		t.Errorf("methods [GET, POST]: idempotent by default; want false (POST is not)")
	}
}
