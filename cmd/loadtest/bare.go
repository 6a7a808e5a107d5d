package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

// serveBare serves 200 "ok" to every request on addr until SIGINT or
// SIGTERM: the cheapest target fasthttp can be, so that a benchmark of the
// harness against it measures the harness.
func serveBare(addr string, stdout, stderr io.Writer) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: -serve-bare: %v\n", err)
		return 1
	}
	srv := &fasthttp.Server{
		Handler:                       func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") },
		Name:                          "loadtest-bare",
		Concurrency:                   1 << 20,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: true,
	}
	fmt.Fprintf(stdout, "loadtest-bare listening on %s\n", ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-sig:
		srv.Shutdown() //nolint:errcheck
		return 0
	case err := <-errc:
		fmt.Fprintf(stderr, "loadtest: -serve-bare: %v\n", err)
		return 1
	}
}
