package upstream

import (
	"time"

	"github.com/valyala/fasthttp"
)

// newPool builds a pool for cfg with no previous one.
func newPool(cfg Config) (*Pool, error) { return NewPoolFrom(nil, cfg) }

// attempt sends req once to the least-pending available target, neither
// retrying nor avoiding suspect targets: what the tests of targets,
// breakers and outlier detection look at one attempt at a time.
func (p *Pool) attempt(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	return p.send(req, resp, deadline, false, false)
}
