package gateway

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"shedgate/cache"
	"shedgate/configs"
)

const allocTestConfig = `
upstreams:
  issuer: {targets: ["127.0.0.1:1"]}
limiter:
  classes: [{name: normal}]
cache: {max_bytes: 33554432}
routes:
  - {name: code, method: GET, path: "/v1/codes/{id}", upstream: issuer, class: normal, key: "{id}",
     cache: {ttl: upstream, max_ttl: 720h, stale_for: 24h}, coalesce: true}
  - {name: passthrough, path: "/*", upstream: issuer, class: normal}
`

func newTestGateway(t testing.TB, yaml string) *Gateway {
	t.Helper()
	cfg, err := configs.Parse("alloc.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g, err := New(cfg, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

// cacheHitCtx stores an answer for id and returns a request context asking
// for it, with the extra header lines ("Name: value") given.
func cacheHitCtx(t testing.TB, g *Gateway, id string, extra ...string) *fasthttp.RequestCtx {
	t.Helper()
	now := time.Now()
	e := &cache.Entry{Status: 200, StoredAt: now.UnixNano(), LocalAt: now.UnixNano(),
		FreshUntil: now.Add(time.Hour).UnixNano(), StaleUntil: now.Add(2 * time.Hour).UnixNano(),
		Body: []byte(`{"id":"` + id + `","code":"v1.eyJpZCI6IjEifQ.c2ln","serial":1}`)}
	e.AppendHeader([]byte("Content-Type"), []byte("application/json"))
	e.AppendHeader([]byte("Cache-Control"), []byte("max-age=2592000"))

	// Parsed from the wire, as the server does, so that the header keeps
	// its raw lines.
	var req fasthttp.Request
	raw := "GET /v1/codes/" + id + "?lang=zh HTTP/1.1\r\nHost: Gw.Example:8080\r\nUser-Agent: app/1.0\r\nAccept: application/json\r\n"
	for _, line := range extra {
		raw += line + "\r\n"
	}
	raw += "\r\n"
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("request: %v", err)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	storeFor(t, g, ctx, e)
	return ctx
}

// storeFor caches e as the answer to ctx's request: under its route's key,
// for its variant.
func storeFor(t testing.TB, g *Gateway, ctx *fasthttp.RequestCtx, e *cache.Entry) {
	t.Helper()
	var m match
	if !g.state.Load().router.lookup(ctx.Method(), ctx.Path(), &m) {
		t.Fatalf("no route for %s", ctx.Path())
	}
	e.Variant = m.route.appendVariant(nil, ctx, true)
	g.cache.Set(nil, m.route.appendCacheKey(nil, m.appendKey(nil)), e)
}

// TestCacheHitAllocatesNothing runs the whole handler, route match
// included, on a cache hit: by default (no request id for a hit) and with
// server.hit_request_ids, which generates one per hit.
func TestCacheHitAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	for _, ids := range []bool{false, true} {
		g := newTestGateway(t, fmt.Sprintf("server: {hit_request_ids: %v}\n", ids)+allocTestConfig)
		ctx := cacheHitCtx(t, g, "11010519491231002X")
		allocs := testing.AllocsPerRun(2000, func() {
			ctx.Request.Header.Del(headerRequestID) // a new request each time
			g.handle(ctx)
			if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.Peek(headerXCache)) != "HIT" {
				t.Fatalf("got %d X-Cache %q; want 200 HIT", ctx.Response.StatusCode(), ctx.Response.Header.Peek(headerXCache))
			}
			if id := ctx.Response.Header.Peek(headerRequestID); (len(id) == 32) != ids {
				t.Fatalf("hit_request_ids %v: X-Request-Id %q", ids, id)
			}
		})
		if allocs != 0 {
			t.Fatalf("hit_request_ids %v: cache hit allocates %v times per request; want 0", ids, allocs)
		}
	}
}

// TestFleetCacheHitAllocatesNothing: with a shared cache configured (its
// Redis unreachable here: the hit path only asks whether the entry is
// trusted, which reads two atomics), a hit still allocates nothing.
func TestFleetCacheHitAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	g := newTestGateway(t, strings.Replace(allocTestConfig, "cache: {max_bytes: 33554432}",
		`cache: {max_bytes: 33554432, shared: {redis: ["127.0.0.1:1"], local_ttl: 1h}}`, 1))
	t.Cleanup(g.fleet.store.Close)
	ctx := cacheHitCtx(t, g, "11010519491231002X")
	allocs := testing.AllocsPerRun(2000, func() {
		g.handle(ctx)
		if string(ctx.Response.Header.Peek(headerXCache)) != "HIT" {
			t.Fatalf("got %d X-Cache %q; want HIT (trusted for local_ttl while Redis is unreachable)",
				ctx.Response.StatusCode(), ctx.Response.Header.Peek(headerXCache))
		}
	})
	if allocs != 0 {
		t.Fatalf("a fleet's cache hit allocates %v times per request; want 0", allocs)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	g := newTestGateway(b, allocTestConfig)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := cacheHitCtx(b, g, "11010519491231002X")
		for pb.Next() {
			g.handle(ctx)
		}
	})
}

const rejectTestConfig = `
upstreams:
  issuer: {targets: ["127.0.0.1:1"]}
limiter:
  initial_limit: 2
  min_limit: 2
  classes: [{name: critical, max_queue: 0}, {name: low, max_queue: 0}]
routes:
  - {name: scan, method: POST, path: /v1/scans, upstream: issuer, class: low}
  - {name: health, method: GET, path: "/v1/health/{id}", upstream: issuer, class: low, key: "{id}",
     per_key: {rate: 1, per: 1h, burst: 1}}
`

func requestCtx(method, uri, body string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.SetHost("gw.example")
	req.SetBodyString(body)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	return ctx
}

// TestRejectionAllocatesNothing runs the whole handler on a request shed by
// admission (503) and on one over its key's rate (429).
func TestRejectionAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	g := newTestGateway(t, rejectTestConfig)
	for range 2 { // take every slot: the next request finds no room and no queue
		if _, reason := g.limiter.Acquire(0, 0, time.Time{}); reason != 0 {
			t.Fatalf("could not take a slot: %v", reason)
		}
	}
	f := func(name string, ctx *fasthttp.RequestCtx, want int) {
		t.Helper()
		allocs := testing.AllocsPerRun(2000, func() {
			ctx.Request.Header.Del(headerRequestID)
			g.handle(ctx)
			if got := ctx.Response.StatusCode(); got != want || len(ctx.Response.Header.Peek("Retry-After")) == 0 {
				t.Fatalf("%s: status %d; want %d with Retry-After", name, got, want)
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: %v allocations per request; want 0", name, allocs)
		}
	}
	f("shed", requestCtx("POST", "/v1/scans", `{"code":"v1.x.y","sample_id":"s"}`), 503)
	hot := requestCtx("GET", "/v1/health/11010519491231002X", "")
	g.handle(hot) // spends the key's only token (and is shed by admission)
	f("over its rate", hot, 429)
}

func BenchmarkRejection(b *testing.B) {
	g := newTestGateway(b, rejectTestConfig)
	for range 2 {
		g.limiter.Acquire(0, 0, time.Time{})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := requestCtx("POST", "/v1/scans", `{"code":"v1.x.y","sample_id":"s"}`)
		for pb.Next() {
			g.handle(ctx)
		}
	})
}

func skipUnderRace(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
}

// TestShedServesStaleCopy: a request that admission sheds is answered from
// a stale cached copy when one exists, instead of 503.
func TestShedServesStaleCopy(t *testing.T) {
	g := newTestGateway(t, `
upstreams:
  issuer: {targets: ["127.0.0.1:1"]}
limiter:
  initial_limit: 1
  min_limit: 1
  classes: [{name: normal, max_queue: 0}]
routes:
  - {name: code, method: GET, path: "/v1/codes/{id}", upstream: issuer, class: normal, key: "{id}",
     cache: {ttl: upstream, stale_for: 1h}}
`)
	if _, reason := g.limiter.Acquire(0, 0, time.Time{}); reason != 0 {
		t.Fatalf("could not take the only slot: %v", reason)
	}
	now := time.Now()
	stale := &cache.Entry{Status: 200, StoredAt: now.Add(-2 * time.Minute).UnixNano(),
		FreshUntil: now.Add(-time.Minute).UnixNano(), StaleUntil: now.Add(time.Hour).UnixNano(), Body: []byte(`{"code":"old"}`)}
	ctx := requestCtx("GET", "/v1/codes/A1", "")
	storeFor(t, g, ctx, stale)
	g.handle(ctx)
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.Peek(headerXCache)) != "STALE" ||
		string(ctx.Response.Body()) != `{"code":"old"}` {
		t.Fatalf("shed with a stale copy: %d X-Cache %q %q; want 200 STALE with the copy",
			ctx.Response.StatusCode(), ctx.Response.Header.Peek(headerXCache), ctx.Response.Body())
	}
	if age := string(ctx.Response.Header.Peek("Age")); age != "120" {
		t.Fatalf("Age %q; want 120", age)
	}
	ctx = requestCtx("GET", "/v1/codes/B2", "")
	g.handle(ctx)
	if ctx.Response.StatusCode() != 503 || len(ctx.Response.Header.Peek("Retry-After")) == 0 {
		t.Fatalf("shed without a copy: %d; want 503 with Retry-After", ctx.Response.StatusCode())
	}
}

// TestHitRequestIDs: a hit carries the X-Request-Id a trusted proxy sent,
// none when nobody sent one, and an untrusted peer's is dropped.
func TestHitRequestIDs(t *testing.T) {
	f := func(server, sent, want string) {
		t.Helper()
		g := newTestGateway(t, server+allocTestConfig)
		var extra []string
		if sent != "" {
			extra = append(extra, "X-Request-Id: "+sent)
		}
		ctx := cacheHitCtx(t, g, "11010519491231002X", extra...)
		g.handle(ctx)
		if got := string(ctx.Response.Header.Peek(headerRequestID)); string(ctx.Response.Header.Peek(headerXCache)) != "HIT" || got != want {
			t.Errorf("%q, sent %q: X-Cache %q, X-Request-Id %q; want HIT and %q", server, sent,
				ctx.Response.Header.Peek(headerXCache), got, want)
		}
	}
	f("", "", "")
	f("", "req-1", "") // the peer is no trusted proxy
	f("server: {trusted_proxies: [127.0.0.1]}\n", "req-1", "req-1")
	f("server: {trusted_proxies: [127.0.0.1]}\n", "", "")
}
