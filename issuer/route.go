package issuer

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// op is an operation of the main API; its name labels the per-operation
// counters.
type op uint8

const (
	opOther    op = iota // no operation: 404, 405
	opCode               // GET /v1/codes/{id}
	opReissue            // POST /v1/codes/{id}/reissue
	opRelative           // GET /v1/codes/{id}/relatives/{rid}
	opScan               // POST /v1/scans
	opKeys               // GET /v1/keys
	opHealth             // GET /v1/health/{id}
	opCheckin            // POST /v1/venues/{venue}/checkins
	numOps
)

// opNames are the keys of Stats.Ops.
var opNames = [numOps]string{"other", "code", "reissue", "relative", "scan", "keys", "health", "checkin"}

// opMethods are the methods of the operations.
var opMethods = [numOps]string{
	opCode: fasthttp.MethodGet, opReissue: fasthttp.MethodPost, opRelative: fasthttp.MethodGet,
	opScan: fasthttp.MethodPost, opKeys: fasthttp.MethodGet, opHealth: fasthttp.MethodGet,
	opCheckin: fasthttp.MethodPost,
}

// mutates reports whether o is not idempotent: a repeat is a duplicate.
func (o op) mutates() bool {
	return o == opReissue || o == opScan || o == opCheckin
}

// route is a request matched against the API. The parameters alias the
// request's path and are valid only while it is handled.
type route struct {
	op     op
	status int    // 0 when matched, else 404 or 405
	allow  string // for a 405: the method the path takes
	id     []byte // {id}
	rid    []byte // {rid}
	venue  []byte // {venue}
}

// matchRoute matches a request's method and path.
func matchRoute(method, path []byte) route {
	r := matchPath(path)
	switch {
	case r.op == opOther:
		return route{status: fasthttp.StatusNotFound}
	case string(method) != opMethods[r.op]:
		return route{status: fasthttp.StatusMethodNotAllowed, allow: opMethods[r.op]}
	}
	return r
}

// matchPath returns the route of path, with op opOther if there is none.
func matchPath(path []byte) route {
	rest, ok := bytes.CutPrefix(path, []byte("/v1/"))
	if !ok {
		return route{}
	}
	seg := bytes.Split(rest, []byte{'/'})
	for _, s := range seg {
		if len(s) == 0 {
			return route{}
		}
	}
	first := string(seg[0])
	switch {
	case len(seg) == 1 && first == "scans":
		return route{op: opScan}
	case len(seg) == 1 && first == "keys":
		return route{op: opKeys}
	case len(seg) == 2 && first == "codes":
		return route{op: opCode, id: seg[1]}
	case len(seg) == 3 && first == "codes" && string(seg[2]) == "reissue":
		return route{op: opReissue, id: seg[1]}
	case len(seg) == 4 && first == "codes" && string(seg[2]) == "relatives":
		return route{op: opRelative, id: seg[1], rid: seg[3]}
	case len(seg) == 2 && first == "health":
		return route{op: opHealth, id: seg[1]}
	case len(seg) == 3 && first == "venues" && string(seg[2]) == "checkins":
		return route{op: opCheckin, venue: seg[1]}
	}
	return route{}
}
