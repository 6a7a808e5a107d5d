package loadtest

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// testServer is a fasthttp server on loopback that counts the requests it
// receives.
type testServer struct {
	url      string
	received atomic.Int64
}

// startServer serves handler on a free loopback port until the test ends.
func startServer(t *testing.T, handler fasthttp.RequestHandler) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts := &testServer{url: "http://" + ln.Addr().String()}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ts.received.Add(1)
		handler(ctx)
	}, Concurrency: 100000}
	go srv.Serve(ln)                     //nolint:errcheck
	t.Cleanup(func() { srv.Shutdown() }) //nolint:errcheck
	return ts
}

// parse parses a scenario given as YAML, failing the test on error.
func parse(t *testing.T, yaml string) *Scenario {
	t.Helper()
	s, err := Parse("test.yaml", []byte(strings.TrimLeft(yaml, "\n")))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return s
}

// run runs s against target with a 30 s limit, failing the test on error.
func run(t *testing.T, s *Scenario, opts Options) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Run(ctx, s, opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return r
}
