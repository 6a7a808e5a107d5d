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

	"shedgate/internal/badconfigs"
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
		WriteTimeout: 5 * time.Second, MaxHeaderBytes: 16384, MaxBodyBytes: 65536, DrainTimeout: 30 * time.Second, DrainDelay: 5 * time.Second, IdleTimeout: 60 * time.Second,
		AccessLog: AccessLog{PerSecond: 10, OneIn: 1000}}
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

// TestBadConfigs parses each config of the bad-config table
// (internal/badconfigs/cases.txt) and wants its error: a line naming the
// file, the line and the key.
func TestBadConfigs(t *testing.T) {
	cases := badconfigs.Cases()
	if len(cases) < 100 {
		t.Fatalf("%d bad configs in the table; want the whole table", len(cases))
	}
	for _, c := range cases {
		_, err := Parse(c.File, []byte(c.YAML))
		if err == nil {
			t.Errorf("%s: no error; want %s...%s", c.File, c.Prefix(), c.Msg)
			continue
		}
		found := false
		for _, line := range strings.Split(err.Error(), "\n") {
			if rest, ok := strings.CutPrefix(line, c.Prefix()); ok && strings.Contains(rest, c.Msg) {
				found = true
			}
		}
		var e *Error
		switch {
		case !found:
			t.Errorf("%s: error\n%v\nhas no line %q...%q", c.File, err, c.Prefix(), c.Msg)
		case !errors.As(err, &e) || e.File != c.File:
			t.Errorf("%s: errors.As(*Error) = %+v", c.File, e)
		}
	}
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
		"many.yaml:3: server.port: unknown key (known: access_log, admin_listen, admin_token, admin_token_env, admin_token_file, drain_delay, drain_timeout, hit_request_ids, idle_timeout, listen, max_body_bytes, max_conns, max_header_bytes, probe_listen, read_timeout, reduce_memory, reuse_port, trusted_proxies, write_timeout)"
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

func TestAdminTokenSources(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("  from-a-mounted-secret-0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHEDGATE_TEST_TOKEN", "from-the-environment-0123")
	f := func(server, want string) {
		t.Helper()
		c, err := Parse("t.yaml", []byte("server:\n  admin_listen: \"0.0.0.0:9090\"\n"+server+
			"upstreams:\n  u: {targets: [\"127.0.0.1:9\"]}\nlimiter:\n  classes: [{name: c}]\nroutes:\n  - {name: r, path: /, upstream: u, class: c}\n"))
		if err != nil {
			t.Fatalf("%s: %v", server, err)
		}
		if c.Server.AdminToken != want {
			t.Fatalf("%s: token %q; want %q", server, c.Server.AdminToken, want)
		}
	}
	f("  admin_token_file: "+path+"\n", "from-a-mounted-secret-0123")
	f("  admin_token_env: SHEDGATE_TEST_TOKEN\n", "from-the-environment-0123")
	f("  admin_token: in-the-config-file-0123\n", "in-the-config-file-0123")
}
