package gateway

import (
	"errors"
	"net"
	"strconv"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"shedgate/flight"
	"shedgate/upstream"
)

// Error bodies are built once: answering an error allocates nothing.
var (
	bodyNoRoute     = []byte(`{"error":"no route"}`)
	bodyUnavailable = []byte(`{"error":"service unavailable: upstream refused the connection","retry_after_s":1}`)
	bodyBadResponse = []byte(`{"error":"bad gateway: invalid upstream response"}`)
	bodyTimeout     = []byte(`{"error":"gateway timeout: upstream did not answer in time"}`)
	// A non-idempotent request sent and then lost: the backend may have
	// acted on it, so no Retry-After (TestUnknownOutcomeIsNotARefusal).
	bodyTimeoutUnknown = []byte(`{"error":"gateway timeout: the request was sent and no answer came in time; the outcome is unknown: check before sending it again","outcome":"unknown"}`)
	bodyLostUnknown    = []byte(`{"error":"bad gateway: the connection to the upstream was lost after the request was sent; the outcome is unknown: check before sending it again","outcome":"unknown"}`)
	bodyLostRetry      = []byte(`{"error":"bad gateway: the connection to the upstream was lost before an answer; the request is safe to send again","retry_after_s":1}`)
	bodyHeaderTooLarge = []byte(`{"error":"request header too large"}`)
	bodyBadRequest     = []byte(`{"error":"bad request"}`)
	bodyReadTimeout    = []byte(`{"error":"request timeout"}`)
	bodyInternal       = []byte(`{"error":"internal error"}`)
	bodyTooManyWaiters = []byte(`{"error":"busy: too many requests waiting for the same answer"}`)
)

// writeJSONError answers with status and a small JSON body.
func writeJSONError(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// writeFetchError answers a fetch that failed, the one place fetch
// errors become statuses: 504 for a timeout (the upstream's, or this
// request's own while it waited on a flight); 502 when the connection was
// lost after the request was sent (with Retry-After only when a retry
// cannot act twice: see route.retrySafe); 503 when too many requests
// wait on one key, and 503 with Retry-After when no target takes
// connections, nothing having been sent (an outage answers at once, it is
// not a broken backend); 400 for what the client library refused to send;
// 500 when the flight panicked; 502 for anything else. A timeout or a lost
// connection of a request that is not retry-safe says its outcome is
// unknown. (Sheds are answered by reject.)
func (g *Gateway) writeFetchError(ctx *fasthttp.RequestCtx, rt *route, err error) {
	var pe *flight.PanicError
	safe := rt.retrySafe(&ctx.Request.Header)
	switch {
	case errors.Is(err, upstream.ErrTimeout) && !safe:
		writeJSONError(ctx, fasthttp.StatusGatewayTimeout, bodyTimeoutUnknown)
	case errors.Is(err, flight.ErrDeadline), errors.Is(err, upstream.ErrTimeout):
		writeJSONError(ctx, fasthttp.StatusGatewayTimeout, bodyTimeout)
	case errors.Is(err, upstream.ErrUnknownOutcome) && !safe:
		writeJSONError(ctx, fasthttp.StatusBadGateway, bodyLostUnknown)
	case errors.Is(err, upstream.ErrUnknownOutcome):
		writeJSONError(ctx, fasthttp.StatusBadGateway, bodyLostRetry)
		ctx.Response.Header.Set("Retry-After", "1")
	case errors.Is(err, flight.ErrTooManyWaiters):
		writeJSONError(ctx, fasthttp.StatusServiceUnavailable, bodyTooManyWaiters)
	case errors.Is(err, upstream.ErrUnavailable):
		writeJSONError(ctx, fasthttp.StatusServiceUnavailable, bodyUnavailable)
		ctx.Response.Header.Set("Retry-After", "1")
	case errors.Is(err, upstream.ErrBadRequest):
		writeJSONError(ctx, fasthttp.StatusBadRequest, bodyNotForwardable)
	case errors.As(err, &pe):
		g.log.Error("fetch panicked", zap.String("route", rt.name), zap.Any("panic", pe.Value))
		writeJSONError(ctx, fasthttp.StatusInternalServerError, bodyInternal)
	default:
		writeJSONError(ctx, fasthttp.StatusBadGateway, bodyBadResponse)
	}
}

// bodyTooLarge builds the 413 body naming the configured limit.
func bodyTooLarge(limit int) []byte {
	return []byte(`{"error":"request body too large","limit_bytes":` + strconv.Itoa(limit) + `}`)
}

// serverError answers requests that fasthttp could not read: 431 for an
// oversize header, 413 for an oversize body, 408 for a read timeout and 400
// for anything unparseable, each with a JSON body.
func (g *Gateway) serverError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var netErr *net.OpError
	switch {
	case errors.As(err, &small):
		writeJSONError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, bodyHeaderTooLarge)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeJSONError(ctx, fasthttp.StatusRequestEntityTooLarge, g.state.Load().tooLarge)
	case errors.As(err, &netErr) && netErr.Timeout():
		writeJSONError(ctx, fasthttp.StatusRequestTimeout, bodyReadTimeout)
	default:
		writeJSONError(ctx, fasthttp.StatusBadRequest, bodyBadRequest)
	}
}

// requestConfig applies the current config's timeouts and body limit to
// each request as its header arrives, so a reload changes them live. It
// returns only what differs from the server's own settings (made from the
// config at start): fasthttp already applied its ReadTimeout when the
// request's first byte came, and setting it again costs a clock read and
// a deadline update per request.
func (g *Gateway) requestConfig(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	s := &g.state.Load().cfg.Server
	var rc fasthttp.RequestConfig
	if s.ReadTimeout != g.server.ReadTimeout {
		rc.ReadTimeout = s.ReadTimeout
	}
	if s.WriteTimeout != g.server.WriteTimeout {
		rc.WriteTimeout = s.WriteTimeout
	}
	if s.MaxBodyBytes != g.server.MaxRequestBodySize {
		rc.MaxRequestBodySize = s.MaxBodyBytes
	}
	return rc
}
