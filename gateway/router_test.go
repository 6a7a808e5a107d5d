package gateway

import (
	"fmt"
	"math/rand/v2"
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
		r.add(&route{name: name, methods: methods, segments: tpl.Segments, key: k})
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

// TestRouterTreeMatchesLinear checks the tree against trying each route in
// turn, on random configs and paths over a small alphabet (so that
// literals, parameters, wildcards, "/" and trailing slashes collide).
func TestRouterTreeMatchesLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	segs := []string{"a", "b", "{p}", "{q}"}
	pathSegs := []string{"a", "b", "c", ""}
	methods := []string{"", "GET", "POST", "GET,HEAD"}
	for cfg := range 300 {
		r := &router{}
		for i := range 1 + rng.IntN(12) {
			var b strings.Builder
			n := rng.IntN(4)
			used := map[string]bool{}
			for range n {
				s := segs[rng.IntN(len(segs))]
				if used[s] {
					s = "a"
				}
				used[s] = true
				b.WriteString("/" + s)
			}
			if rng.IntN(3) == 0 {
				b.WriteString("/*")
			}
			path := b.String()
			if path == "" {
				path = "/"
			}
			tpl, err := configs.ParseTemplate(path)
			if err != nil {
				t.Fatalf("template %q: %v", path, err)
			}
			var ms []string
			if m := methods[rng.IntN(len(methods))]; m != "" {
				ms = strings.Split(m, ",")
			}
			r.add(&route{name: fmt.Sprintf("r%d %s %s", i, ms, path), methods: ms, segments: tpl.Segments})
		}
		for range 200 {
			var b strings.Builder
			for range rng.IntN(5) {
				b.WriteString("/" + pathSegs[rng.IntN(len(pathSegs))])
			}
			path := b.String()
			if path == "" || rng.IntN(8) == 0 {
				path += "/"
			}
			method := []string{"GET", "POST", "HEAD", "DELETE"}[rng.IntN(4)]
			var tree, lin match
			okT := r.lookup([]byte(method), []byte(path), &tree)
			okL := r.scan([]byte(method), []byte(path), &lin)
			if okT != okL || okT && (tree.route != lin.route || tree.nparams != lin.nparams ||
				fmt.Sprint(tree.params[:tree.nparams]) != fmt.Sprint(lin.params[:lin.nparams])) {
				names := func(m match, ok bool) string {
					if !ok {
						return "none"
					}
					return m.route.name
				}
				t.Fatalf("config %d, %s %q: tree %s %q; scan %s %q", cfg, method, path,
					names(tree, okT), tree.params[:tree.nparams], names(lin, okL), lin.params[:lin.nparams])
			}
		}
	}
}
