// Command fixed-origin answers every request with the same bytes: a body
// read from a file and the headers given on the command line. It is the
// reference of the cache benchmark: the cheapest fasthttp server answering
// what the gateway answers on a cache hit, measured with the same load
// generator in the same run.
//
//	fixed-origin -listen 127.0.0.1:0 -body code.json -header 'Content-Type: application/json'
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/valyala/fasthttp"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	os.Exit(run())
}

func run() int {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	bodyFile := flag.String("body", "", "file holding the body of every answer")
	var hdrs headers
	flag.Var(&hdrs, "header", "a header of every answer, 'Name: value' (repeatable)")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixed-origin: -body:", err)
		return 2
	}
	var kv [][2]string
	for _, h := range hdrs {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			fmt.Fprintf(os.Stderr, "fixed-origin: -header %q: want 'Name: value'\n", h)
			return 2
		}
		kv = append(kv, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixed-origin:", err)
		return 1
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			for _, h := range kv {
				ctx.Response.Header.Set(h[0], h[1])
			}
			ctx.SetBody(body)
		},
		Concurrency:           1 << 20,
		NoDefaultServerHeader: true,
	}
	fmt.Printf("fixed-origin listening on %s\n", ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; srv.Shutdown() }() //nolint:errcheck
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "fixed-origin:", err)
		return 1
	}
	return 0
}
