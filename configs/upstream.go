package configs

import (
	"math"
	"strings"
)

// reservedHeaders may not carry the deadline: the proxy or HTTP itself
// owns them.
var reservedHeaders = []string{"host", "content-length", "content-type", "transfer-encoding",
	"connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection", "cookie", "authorization"}

// deadlineHeader checks an upstream's deadline_header: "" or a header name.
func (v *validator) deadlineHeader(key, name string) {
	switch {
	case name == "":
	case strings.IndexFunc(name, notToken) >= 0:
		v.errf(key, "bad header name %q: want letters, digits and - (such as X-Request-Deadline), or \"\" for none", name)
	case contains(reservedHeaders, strings.ToLower(name)):
		v.errf(key, "%s is a header HTTP or the gateway owns; pick another (such as X-Request-Deadline)", name)
	}
}

// notToken reports a rune not allowed in an HTTP header name (RFC 9110
// token).
func notToken(r rune) bool {
	return notWord(r) && !strings.ContainsRune("!#$%&'*+.^`|~", r)
}

// health checks an upstream's active health checks.
func (v *validator) health(key string, h *Health) {
	if h.Path == "" {
		for _, k := range []string{"interval", "timeout", "healthy_after", "unhealthy_after"} {
			if v.d.set[key+"."+k] {
				v.errf(key+"."+k, "has no effect without %s.path: set the path to probe (such as /healthz)", key)
			}
		}
		return
	}
	if h.Path[0] != '/' || strings.IndexFunc(h.Path, badPathRune) >= 0 {
		v.errf(key+".path", "want a path starting with / and without spaces or #, such as /healthz, got %q", h.Path)
	}
	v.positive(key+".interval", h.Interval)
	v.positive(key+".timeout", h.Timeout)
	if h.Timeout > h.Interval && h.Interval > 0 {
		v.errf(key+".timeout", "%v is above interval %v: a probe must end before the next one", h.Timeout, h.Interval)
	}
	v.atLeast(key+".healthy_after", h.HealthyAfter, 1)
	v.atLeast(key+".unhealthy_after", h.UnhealthyAfter, 1)
}

func badPathRune(r rune) bool {
	return r <= ' ' || r == '#' || r == 0x7f
}

// outlier checks an upstream's outlier detection and breaker.
func (v *validator) outlier(key string, o *Outlier) {
	v.atLeast(key+".consecutive_failures", o.ConsecutiveFailures, 0)
	if !(o.FailureRatio >= 0 && o.FailureRatio <= 1) {
		v.errf(key+".failure_ratio", "must be from 0 (rule off) to 1, got %v", o.FailureRatio)
	}
	v.atLeast(key+".min_requests", o.MinRequests, 1)
	v.positive(key+".window", o.Window)
	v.positive(key+".base_ejection", o.BaseEjection)
	if o.MaxEjection < o.BaseEjection {
		v.errf(key+".max_ejection", "%v is below base_ejection %v", o.MaxEjection, o.BaseEjection)
	}
	v.atLeast(key+".half_open_probes", o.HalfOpenProbes, 1)
}

// retry checks an upstream's retries and their budget.
func (v *validator) retry(key string, r *Retry) {
	if r.Attempts < 1 || r.Attempts > 10 {
		v.errf(key+".attempts", "must be from 1 (no retries) to 10, got %d", r.Attempts)
	}
	if !(r.BudgetRatio > 0 && r.BudgetRatio <= 1) {
		v.errf(key+".budget_ratio", "must be above 0 and at most 1 (a share of recent requests), got %v", r.BudgetRatio)
	}
	if !(r.MinPerSecond > 0) || math.IsInf(r.MinPerSecond, 0) {
		v.errf(key+".min_per_second", "must be a positive number, got %v", r.MinPerSecond)
	}
}

func (v *validator) atLeast(key string, n, low int) {
	if n < low {
		v.errf(key, "must be >= %d, got %d", low, n)
	}
}
