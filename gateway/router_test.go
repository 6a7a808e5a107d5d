package gateway

import (
	"strings"
	"testing"

	"shedgate/configs"
)

func testRouter(t testing.TB) *router {
	t.Helper()
	r := &router{}
	add := func(name, method, path, key string) {
		tpl, err := configs.ParseTemplate(path)
		if err != nil {
			t.Fatalf("template %q: %v", path, err)
		}
		kt, err := configs.ParseKey(key, tpl)
		if err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		k := compileKey(kt, tpl)
		var methods []string
		if method != "" {
			methods = strings.Split(method, ",")
		}
		r.routes = append(r.routes, &route{name: name, methods: methods, segments: tpl.Segments, key: k})
	}
	add("code", "GET", "/v1/codes/{id}", "{id}")
	add("reissue", "POST", "/v1/codes/{id}/reissue", "{id}")
	add("relative", "GET", "/v1/codes/{id}/relatives/{rid}", "{id}:{rid}")
	add("root", "GET", "/", "")
	add("keys", "GET,HEAD", "/v1/keys", "")
	add("v1any", "DELETE", "/v1/*", "")
	add("passthrough", "", "/*", "")
	return r
}

func TestRouterLookup(t *testing.T) {
	r := testRouter(t)
	f := func(method, path, wantRoute, wantKey string) {
		t.Helper()
		var m match
		ok := r.lookup([]byte(method), []byte(path), &m)
		got := ""
		if ok {
			got = m.route.name
		}
		if got != wantRoute {
			t.Fatalf("%s %s: route %q; want %q", method, path, got, wantRoute)
		}
		if ok {
			if key := string(m.appendKey(nil)); key != wantKey {
				t.Fatalf("%s %s: key %q; want %q", method, path, key, wantKey)
			}
		}
	}
	// Parameters are length-prefixed in the key.
	f("GET", "/v1/codes/11010519491231002X", "code", "\x1211010519491231002X")
	f("POST", "/v1/codes/abc/reissue", "reissue", "\x03abc")
	f("GET", "/v1/codes/abc/reissue", "passthrough", "")
	f("GET", "/v1/codes/a/relatives/b", "relative", "\x01a:\x01b")
	// The split of a composite key is never ambiguous.
	f("GET", "/v1/codes/K1:K2/relatives/K3", "relative", "\x05K1:K2:\x02K3")
	f("GET", "/v1/codes/K1/relatives/K2:K3", "relative", "\x02K1:\x05K2:K3")
	f("GET", "/v1/codes/a/relatives/", "passthrough", "")
	f("GET", "/v1/codes/", "passthrough", "")
	f("GET", "/v1/codes", "passthrough", "")
	f("GET", "/v1/codes/abc/", "passthrough", "")
	f("POST", "/v1/codes/abc", "passthrough", "")
	f("GET", "/", "root", "")
	f("POST", "/", "passthrough", "")
	f("DELETE", "/v1", "v1any", "")
	f("GET", "/v1/keys", "keys", "")
	f("HEAD", "/v1/keys", "keys", "")
	f("POST", "/v1/keys", "passthrough", "")
	f("DELETE", "/v1/x/y/z", "v1any", "")
	f("DELETE", "/v2/x", "passthrough", "")
	f("PATCH", "/anything/at/all", "passthrough", "")

	strict := &router{routes: r.routes[:3]}
	var m match
	if strict.lookup([]byte("GET"), []byte("/v2"), &m) {
		t.Fatalf("GET /v2 matched %q without a catch-all", m.route.name)
	}
	if strict.lookup([]byte("GET"), []byte(""), &m) {
		t.Fatalf("empty path matched %q", m.route.name)
	}
}

func TestRouterLookupAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	r := testRouter(t)
	method, path := []byte("GET"), []byte("/v1/codes/a/relatives/110105201003071239")
	var m match
	key := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		if !r.lookup(method, path, &m) {
			t.Fatal("no match")
		}
		key = m.appendKey(key[:0])
	})
	if allocs != 0 {
		t.Fatalf("route match allocates %v times per request; want 0", allocs)
	}
}

func BenchmarkRouterLookup(b *testing.B) {
	r := testRouter(b)
	method, path := []byte("GET"), []byte("/v1/codes/a/relatives/110105201003071239")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var m match
		for pb.Next() {
			r.lookup(method, path, &m)
		}
	})
}

// Request ids are 128 random bits: no two of 1,000 share even their first
// 12 hex digits (a prefix and a counter, as before, share all but the
// last few).
func TestRequestIDsAreUnpredictable(t *testing.T) {
	ids := newRequestIDs()
	seen := map[string]bool{}
	for range 1000 {
		id := string(ids.append(nil))
		if len(id) != 32 || !validRequestID([]byte(id)) {
			t.Fatalf("id %q: want 32 hex digits", id)
		}
		if seen[id[:12]] {
			t.Fatalf("two ids share the prefix %s", id[:12])
		}
		seen[id[:12]] = true
	}
}
