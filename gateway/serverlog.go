package gateway

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// serverLog is the fasthttp.Logger of the gateway's servers. fasthttp's
// default logger writes every request it cannot parse to stderr with the
// request line, headers and body: resident IDs and credentials in clear,
// one line per bad request, as fast as a client can send them. serverLog
// writes instead one line per second at most, with the error's kind, a
// keyed hash of the message (equal messages hash equal, so an operator can
// tell one client repeating itself from many) and how many lines it
// suppressed since the last; never the request's bytes.
type serverLog struct {
	log    *zap.Logger
	hash   *keyHasher
	server string // "public" or "admin"
	every  time.Duration
	set    *metrics.Set // counts every error, logged or not, by kind

	mu         sync.Mutex // guards last and suppressed
	last       time.Time
	suppressed int
}

func newServerLog(log *zap.Logger, hash *keyHasher, server string, set *metrics.Set) *serverLog {
	return &serverLog{log: log, hash: hash, server: server, every: time.Second, set: set}
}

// Printf implements fasthttp.Logger. Every call is counted in
// gateway_http_server_errors_total{server, kind}; one a second is logged.
func (l *serverLog) Printf(format string, args ...any) {
	kind := errorKind(format, args)
	l.set.GetOrCreateCounter(`gateway_http_server_errors_total{server="` + l.server + `",kind="` + kind + `"}`).Inc()
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.last = now
	suppressed := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	l.log.Warn("http server error",
		zap.String("server", l.server),
		zap.String("kind", kind),
		zap.String("message_hash", l.hash.hash([]byte(fmt.Sprintf(format, args...)))),
		zap.Int("suppressed", suppressed))
}

// errorKind names what went wrong from a fasthttp log call's error
// argument or, failing that, its format string: never from request bytes.
func errorKind(format string, args []any) string {
	for _, a := range args {
		err, ok := a.(error)
		if !ok {
			continue
		}
		var small *fasthttp.ErrSmallBuffer
		var netErr net.Error
		msg := err.Error()
		switch {
		case errors.As(err, &small):
			return "header_too_large"
		case errors.Is(err, fasthttp.ErrBodyTooLarge):
			return "body_too_large"
		case errors.As(err, &netErr) && netErr.Timeout():
			return "timeout"
		case strings.Contains(msg, "reading request headers"), strings.Contains(msg, "cannot parse"),
			strings.Contains(msg, "unsupported"), strings.Contains(msg, "invalid"):
			return "malformed_request"
		case strings.Contains(msg, "reset by peer"), strings.Contains(msg, "broken pipe"):
			return "connection_reset"
		}
		return "connection_error"
	}
	switch {
	case strings.Contains(format, "concurrent connections"):
		return "concurrency_limit"
	case strings.Contains(format, "accepting"):
		return "accept_error"
	case strings.Contains(format, "MaxConnsPerIP"):
		return "per_ip_limit"
	}
	return "other"
}
