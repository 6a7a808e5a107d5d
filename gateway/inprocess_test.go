package gateway

// The handler's own tests: the gateway in this process (so that the race
// detector sees the request path, the flights, the cache, the limiter and
// reloads interleave), serving on loopback in front of an origin on
// loopback. make test runs them, and the fuzz targets' seeds,
// under -race.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"shedgate/configs"
)

// origin is an in-process upstream on loopback: it answers with the
// request line it received and the response headers the request's
// X-Echo-Set lines ask for, and records what it must never receive.
type origin struct {
	addr      string
	requests  atomic.Int64
	forbidden atomic.Value // string: the first request that must not have reached it
}

func startOrigin(t testing.TB) *origin {
	t.Helper()
	o := &origin{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	srv := &fasthttp.Server{Logger: serverLogDiscard{}, Handler: func(ctx *fasthttp.RequestCtx) {
		o.requests.Add(1)
		m := string(ctx.Method())
		if m == "TRACE" || m == "CONNECT" || len(ctx.Host()) == 0 {
			o.forbidden.CompareAndSwap(nil, fmt.Sprintf("%s %s host %q", m, ctx.RequestURI(), ctx.Host()))
		}
		for k, v := range ctx.Request.Header.All() {
			if bytes.EqualFold(k, []byte("X-Echo-Set")) {
				if name, value, ok := bytes.Cut(v, []byte(":")); ok {
					ctx.Response.Header.AddBytesKV(bytes.TrimSpace(name), bytes.TrimSpace(value))
				}
			}
		}
		fmt.Fprintf(ctx, "%s %s who=%s", m, ctx.RequestURI(), ctx.Request.Header.Peek("X-Who"))
	}}
	go srv.Serve(ln)                     //nolint:errcheck
	t.Cleanup(func() { srv.Shutdown() }) //nolint:errcheck
	return o
}

type serverLogDiscard struct{}

func (serverLogDiscard) Printf(string, ...any) {}

func inProcessConfig(originAddr string) string {
	return fmt.Sprintf(`server:
  listen: "127.0.0.1:0"
  admin_listen: "127.0.0.1:0"
upstreams:
  o:
    targets: [%q]
    timeout: 2s
limiter:
  initial_limit: 8
  classes: [{name: high}, {name: low, max_queue: 50, max_wait: 50ms}]
routes:
  - {name: code, method: GET, path: "/v1/codes/{id}", upstream: o, class: low, key: "{id}", coalesce: true,
     cache: {ttl: upstream, stale_for: 1h}, validate: {id: "/[0-9A-Za-z:]{1,40}/"}}
  - {name: reissue, method: POST, path: "/v1/codes/{id}/reissue", upstream: o, class: low, key: "{id}", invalidates: [code]}
  - {name: relative, method: GET, path: "/v1/codes/{id}/relatives/{rid}", upstream: o, class: low, key: "{id}:{rid}",
     cache: {ttl: 1m}, query: drop, host: ignore}
  - {name: scan, method: POST, path: /v1/scans, upstream: o, class: high}
  - {name: rest, path: "/*", upstream: o, class: low}
`, originAddr)
}

// inProcess is a gateway serving on loopback.
type inProcess struct {
	g    *Gateway
	addr string
	cfg  *configs.Config
}

func startInProcess(t testing.TB, yaml string) *inProcess {
	t.Helper()
	cfg, err := configs.Parse("inprocess.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	p := &inProcess{cfg: cfg}
	p.g, err = New(cfg, Options{Load: func() (*configs.Config, error) { return p.cfg, nil }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	admin := fasthttputil.NewInmemoryListener()
	done := make(chan error, 1)
	go func() { done <- p.g.Serve(ln, admin) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.g.Shutdown(ctx) //nolint:errcheck
		<-done
	})
	return p
}

// exchange writes raw on a new connection, closes its sending side (so
// that an incomplete request ends at once) and reads one answer; status 0
// means none came before the connection closed.
func (p *inProcess) exchange(raw []byte) (status int, resp *fasthttp.Response, err error) {
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	if _, err := c.Write(raw); err != nil {
		return 0, nil, nil
	}
	c.(*net.TCPConn).CloseWrite() //nolint:errcheck
	resp = &fasthttp.Response{}
	if err := resp.Read(bufio.NewReader(c)); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, nil, fmt.Errorf("no answer within 5 s: %w", err)
		}
		return 0, nil, nil // closed without an answer
	}
	return resp.StatusCode(), resp, nil
}

// TestInProcessConcurrentTraffic drives every step of the request path at
// once (hits, misses, coalesced flights, private answers, invalidations,
// sheds, edge refusals) while the config reloads, so that the race
// detector sees them interleave. Every request gets an answer of the kind
// its step gives.
func TestInProcessConcurrentTraffic(t *testing.T) {
	o := startOrigin(t)
	p := startInProcess(t, inProcessConfig(o.addr))
	requests := []struct {
		raw  string
		want func(status int) bool
	}{
		{"GET /v1/codes/A1 HTTP/1.1\r\nHost: gw\r\nX-Echo-Set: Cache-Control: max-age=1\r\n\r\n", ok2xxOr503},
		{"GET /v1/codes/A2?x=1 HTTP/1.1\r\nHost: gw\r\nX-Echo-Set: Cache-Control: private\r\nX-Echo-Set: Set-Cookie: s=1\r\n\r\n", ok2xxOr503},
		{"GET /v1/codes/A1 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer x\r\n\r\n", ok2xxOr503},
		{"POST /v1/codes/A1/reissue HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n", ok2xxOr503},
		{"GET /v1/codes/K1:K2/relatives/K3?q=2 HTTP/1.1\r\nHost: gw\r\nX-Echo-Set: Cache-Control: max-age=60\r\n\r\n", ok2xxOr503},
		{"POST /v1/scans HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}", ok2xxOr503},
		{"GET /v1/codes/bad!id HTTP/1.1\r\nHost: gw\r\n\r\n", is(400)},
		{"TRACE / HTTP/1.1\r\nHost: gw\r\n\r\n", is(405)},
		{"GET /x HTTP/1.0\r\n\r\n", is(400)},
		{"GET https://gw/x HTTP/1.1\r\nHost: gw\r\n\r\n", is(421)},
		{"GET /other HTTP/1.1\r\nHost: gw\r\nConnection: X-A\r\nConnection: X-B\r\nX-A: 1\r\n\r\n", ok2xxOr503},
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // reloads while traffic flows
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if err := p.g.Reload("test"); err != nil {
					t.Errorf("reload: %v", err)
				}
			}
		}
	}()
	var clients sync.WaitGroup
	for w := range 8 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for i := range 60 {
				r := requests[(w+i)%len(requests)]
				status, _, err := p.exchange([]byte(r.raw))
				if err != nil || !r.want(status) {
					t.Errorf("%q: status %d err %v", r.raw, status, err)
					return
				}
			}
		}()
	}
	clients.Wait()
	close(stop)
	wg.Wait()
	if f := o.forbidden.Load(); f != nil {
		t.Errorf("the origin received %s", f)
	}
}

func ok2xxOr503(status int) bool { return status/100 == 2 || status == 503 || status == 429 }

func is(want int) func(int) bool { return func(status int) bool { return status == want } }

// FuzzHandler sends arbitrary bytes to the gateway as a request: whatever
// they are, the gateway answers with HTTP or closes the connection, within
// its timeouts, never with a 500 (a panic on the request path), and the
// origin never receives TRACE, CONNECT or a request without a Host.
func FuzzHandler(f *testing.F) {
	for _, seed := range []string{
		"GET /v1/codes/A1 HTTP/1.1\r\nHost: gw\r\n\r\n",
		"GET /v1/zzz HTTP/1.0\r\n\r\n",
		"GET https://gw.example/v1/zzz HTTP/1.1\r\nHost: gw.example\r\n\r\n",
		"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
		"POST /v1/scans HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
		"POST /v1/scans HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"POST /v1/scans HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET /v1/codes/K1:K2/relatives/K3 HTTP/1.1\r\nHost: x\r\nConnection: X-A, close\r\nConnection: X-B\r\n\r\n",
		"GET /v1/codes/%2e%2e/relatives/x?a=b HTTP/1.1\r\nHost: X\r\nAuthorization: Bearer t\r\nCookie: a=b\r\n\r\n",
		"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	o := startOrigin(f)
	p := startInProcess(f, inProcessConfig(o.addr))
	f.Fuzz(func(t *testing.T, raw []byte) {
		status, _, err := p.exchange(raw)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if status == 500 {
			t.Fatalf("%q: 500 (a panic on the request path?)", raw)
		}
		if f := o.forbidden.Load(); f != nil {
			t.Fatalf("after %q the origin received %s", raw, f)
		}
	})
}

// TestInProcessReloadRefusesRestartOnlyChanges: a reload that changes a
// setting only a restart applies (server.max_header_bytes, cache.max_bytes,
// cache.persist_path) is refused with the file, line and key of each, and
// the running config stays; restoring them lets the rest reload.
func TestInProcessReloadRefusesRestartOnlyChanges(t *testing.T) {
	o := startOrigin(t)
	base := inProcessConfig(o.addr)
	p := startInProcess(t, base)
	changed := strings.Replace(base, "  admin_listen: \"127.0.0.1:0\"\n",
		"  admin_listen: \"127.0.0.1:0\"\n  max_header_bytes: 8192\n", 1) +
		"cache:\n  max_bytes: 67108864\n  persist_path: /tmp/shedgate-never-written.cache\n"
	cfg, err := configs.Parse("changed.yaml", []byte(changed))
	if err != nil {
		t.Fatal(err)
	}
	p.cfg = cfg
	err = p.g.Reload("test")
	for _, want := range []string{
		"changed.yaml:4: server.max_header_bytes: changed from 16384 to 8192: takes effect only at a restart",
		"changed.yaml:21: cache.max_bytes: changed from 536870912 to 67108864",
		`changed.yaml:22: cache.persist_path: changed from "" to "/tmp/shedgate-never-written.cache"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("reload: %v\nwant a line %q", err, want)
		}
	}
	if v := p.g.state.Load().version; v != 1 {
		t.Errorf("after the refused reload the config is version %d; want 1 (unchanged)", v)
	}
	// The same change to a route alone reloads.
	cfg, err = configs.Parse("routes.yaml", []byte(strings.Replace(base, "max_wait: 50ms", "max_wait: 60ms", 1)))
	if err != nil {
		t.Fatal(err)
	}
	p.cfg = cfg
	if err := p.g.Reload("test"); err != nil || p.g.state.Load().version != 2 {
		t.Errorf("reload of a class's max_wait: %v, version %d; want version 2", err, p.g.state.Load().version)
	}
}
