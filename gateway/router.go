package gateway

import (
	"bytes"

	"shedgate/configs"
)

// maxParams bounds the number of {name} parameters in one path template
// (configs refuses more); params live in a fixed array so a match
// allocates nothing.
const maxParams = configs.MaxParams

// router matches method + path against the configured routes in order;
// the first match wins. It is immutable after construction and safe for
// concurrent use.
type router struct {
	routes []*route
}

// match is the result of a route lookup: the route and its parameter values,
// which are sub-slices of the matched path and valid only as long as it is.
type match struct {
	route   *route
	nparams int
	params  [maxParams][]byte
}

// routeKeyPart is one piece of a route's key template: a literal or the
// index of a path parameter.
type routeKeyPart struct {
	literal string
	param   int // -1 for a literal
}

// compileKey turns a route's parsed key template (such as "{id}" or
// "{id}:{rid}") into parts that refer to its parameters by index.
func compileKey(kt configs.KeyTemplate, tpl configs.Template) []routeKeyPart {
	params := tpl.Params()
	parts := make([]routeKeyPart, 0, len(kt.Parts))
	for _, p := range kt.Parts {
		if p.Param == "" {
			parts = append(parts, routeKeyPart{literal: p.Literal, param: -1})
		} else {
			parts = append(parts, routeKeyPart{param: indexOf(params, p.Param)})
		}
	}
	return parts
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// lookup finds the first route matching method and path and fills m.
// It reports whether one matched. It allocates nothing.
func (r *router) lookup(method, path []byte, m *match) bool {
	for _, rt := range r.routes {
		if !rt.matchesMethod(method) {
			continue
		}
		if matchSegments(rt.segments, path, m) {
			m.route = rt
			return true
		}
	}
	m.route = nil
	return false
}

// matchesMethod reports whether the route takes requests of method.
func (r *route) matchesMethod(method []byte) bool {
	if len(r.methods) == 0 {
		return true
	}
	for _, m := range r.methods {
		if string(method) == m {
			return true
		}
	}
	return false
}

// matchSegments matches path ("/a/b/c") against template segments, storing
// parameter values in m. A wildcard segment matches the rest of the path,
// including nothing; a parameter matches exactly one non-empty segment.
func matchSegments(segs []configs.Segment, path []byte, m *match) bool {
	m.nparams = 0
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	rest := path[1:]
	if len(segs) == 0 {
		return len(rest) == 0
	}
	for i, s := range segs {
		if s.Wildcard {
			return true
		}
		var seg []byte
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			seg, rest = rest[:j], rest[j+1:]
		} else {
			seg, rest = rest, nil
			if i < len(segs)-1 && !segs[i+1].Wildcard {
				return false // path ran out before the template did
			}
		}
		if s.Param != "" {
			if len(seg) == 0 {
				return false
			}
			m.params[m.nparams] = seg
			m.nparams++
		} else if string(seg) != s.Literal {
			return false
		}
		if rest == nil && i == len(segs)-1 {
			return true
		}
	}
	return rest == nil
}

// appendKey appends the matched route's key to dst: the key template's
// literals as they are and each parameter's value length-prefixed, so that
// "{id}:{rid}" keeps K1:K2 + K3 apart from K1 + K2:K3 whatever the values
// hold. Routes without a key template append nothing.
func (m *match) appendKey(dst []byte) []byte {
	for _, p := range m.route.key {
		if p.param < 0 {
			dst = append(dst, p.literal...)
		} else {
			dst = appendPart(dst, m.params[p.param])
		}
	}
	return dst
}

// invalidParam returns the 400 body of the first path parameter that
// fails its route's check, or nil when all pass.
func (m *match) invalidParam() []byte {
	for _, c := range m.route.checks {
		if !c.check(m.params[c.param]) {
			return c.bad
		}
	}
	return nil
}
