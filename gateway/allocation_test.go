package gateway

import (
	"net"
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
// for it.
func cacheHitCtx(t testing.TB, g *Gateway, id string) *fasthttp.RequestCtx {
	t.Helper()
	now := time.Now()
	e := &cache.Entry{Status: 200, StoredAt: now.UnixNano(),
		FreshUntil: now.Add(time.Hour).UnixNano(), StaleUntil: now.Add(2 * time.Hour).UnixNano(),
		Body: []byte(`{"id":"` + id + `","code":"v1.eyJpZCI6IjEifQ.c2ln","serial":1}`)}
	e.AppendHeader([]byte("Content-Type"), []byte("application/json"))
	e.AppendHeader([]byte("Cache-Control"), []byte("max-age=2592000"))
	g.cache.Set(nil, []byte("code\x00"+id), e)

	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI("/v1/codes/" + id)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	return ctx
}

// TestCacheHitAllocatesNothing runs the whole handler, route match
// included, on a cache hit.
func TestCacheHitAllocatesNothing(t *testing.T) {
	g := newTestGateway(t, allocTestConfig)
	ctx := cacheHitCtx(t, g, "11010519491231002X")
	allocs := testing.AllocsPerRun(2000, func() {
		ctx.Request.Header.Del(headerRequestID) // a new request each time: the id is generated
		g.handle(ctx)
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.Peek(headerXCache)) != "HIT" {
			t.Fatalf("got %d X-Cache %q; want 200 HIT", ctx.Response.StatusCode(), ctx.Response.Header.Peek(headerXCache))
		}
	})
	if allocs != 0 {
		t.Fatalf("cache hit allocates %v times per request; want 0", allocs)
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
