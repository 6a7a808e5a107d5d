// Command echo-origin is the hostile-input tests' upstream: it answers
// each request with what it saw, so that a test can tell whose answer a
// client got, and with the response headers the request asks for, so that
// a test can make it answer private, Vary, Set-Cookie or two
// Cache-Control lines.
//
//	echo-origin -listen 127.0.0.1:0 [-delay 300ms]
//
// Each answer is 200 with a JSON body {"n", "who", "method", "uri", "host",
// "headers"}: n counts the requests served so far, who is the request's
// X-Who header, headers are the request's headers as received. Every
// request header "X-Echo-Set: Name: value" becomes a response header line
// (repeat it for several lines); "{who}" in the value is replaced by the
// request's X-Who. "X-Echo-Delay: 300ms" holds that answer that long
// (instead of -delay). GET /__count answers the number of requests served
// (itself not counted).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	os.Exit(run())
}

func run() int {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	delay := flag.Duration("delay", 0, "hold each answer this long")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-origin:", err)
		return 1
	}
	var n atomic.Int64
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/__count" {
				fmt.Fprintf(ctx, "%d", n.Load())
				return
			}
			seq := n.Add(1)
			hold := *delay
			if d, err := time.ParseDuration(string(ctx.Request.Header.Peek("X-Echo-Delay"))); err == nil {
				hold = d
			}
			time.Sleep(hold)
			who := string(ctx.Request.Header.Peek("X-Who"))
			headers := map[string][]string{}
			for k, v := range ctx.Request.Header.All() {
				headers[string(k)] = append(headers[string(k)], string(v))
			}
			for _, line := range headers["X-Echo-Set"] {
				name, value, ok := strings.Cut(line, ":")
				if !ok {
					continue
				}
				ctx.Response.Header.Add(strings.TrimSpace(name), strings.ReplaceAll(strings.TrimSpace(value), "{who}", who))
			}
			ctx.SetContentType("application/json")
			json.NewEncoder(ctx).Encode(map[string]any{ //nolint:errcheck
				"n": seq, "who": who, "method": string(ctx.Method()), "uri": string(ctx.RequestURI()),
				"host": string(ctx.Host()), "headers": headers,
			})
		},
		Name:   "echo-origin",
		Logger: discard{},
	}
	fmt.Printf("echo-origin listening on %s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
		srv.Shutdown() //nolint:errcheck
		return 0
	case err := <-done:
		fmt.Fprintln(os.Stderr, "echo-origin:", err)
		return 1
	}
}

type discard struct{}

func (discard) Printf(string, ...any) {}
