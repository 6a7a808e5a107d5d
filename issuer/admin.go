package issuer

import (
	"errors"

	"github.com/valyala/fasthttp"
)

// AdminHandler serves the admin API, outside the capacity model and the
// faults:
//
//	GET  /healthz      200 {"status":"ok"}
//	GET  /stats        the Stats as JSON
//	POST /stats/reset  ResetStats, then the Stats
//	GET  /faults       the current FaultsStatus
//	POST /faults       JSON with any subset of error_rate (0..1), latency
//	                   (a Go duration string), hang, outage, drop_rate
//	                   (0..1), workers
//	                   (1..100000): 200 with the resulting FaultsStatus; an
//	                   unknown field or a bad value is a 400 and changes
//	                   nothing; failing to listen again after an outage is
//	                   a 500.
//
// Anything else is a 404, a wrong method a 405, both with a JSON error.
// AdminHandler is safe for concurrent use.
func (s *Issuer) AdminHandler(ctx *fasthttp.RequestCtx) {
	path, method := string(ctx.Path()), string(ctx.Method())
	var want string
	switch path {
	case "/healthz":
		want = fasthttp.MethodGet
	case "/stats":
		want = fasthttp.MethodGet
	case "/stats/reset":
		want = fasthttp.MethodPost
	case "/faults":
		if method == fasthttp.MethodGet {
			writeJSON(ctx, fasthttp.StatusOK, s.faultsStatus())
			return
		}
		want = fasthttp.MethodPost
	default:
		writeError(ctx, fasthttp.StatusNotFound, "not found")
		return
	}
	if method != want {
		ctx.Response.Header.Set(fasthttp.HeaderAllow, want)
		writeError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	switch path {
	case "/healthz":
		writeJSONBytes(ctx, fasthttp.StatusOK, []byte(`{"status":"ok"}`))
	case "/stats":
		writeJSON(ctx, fasthttp.StatusOK, s.Stats())
	case "/stats/reset":
		s.ResetStats()
		writeJSON(ctx, fasthttp.StatusOK, s.Stats())
	case "/faults":
		s.adminSetFaults(ctx)
	}
}

// adminSetFaults serves POST /faults.
func (s *Issuer) adminSetFaults(ctx *fasthttp.RequestCtx) {
	p, err := parseFaultsPatch(ctx.PostBody())
	if err == nil {
		err = s.applyFaultsPatch(p)
	}
	switch {
	case errors.Is(err, errBadPatch):
		writeError(ctx, fasthttp.StatusBadRequest, err.Error())
	case err != nil:
		writeError(ctx, fasthttp.StatusInternalServerError, err.Error())
	default:
		writeJSON(ctx, fasthttp.StatusOK, s.faultsStatus())
	}
}
