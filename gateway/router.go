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
// the first match wins. A tree of the templates by path segment names the
// few routes a path can match, so a lookup costs about the same whichever
// route it finds (TestRouterTreeMatchesLinear pins it to the plain scan).
// It is immutable once its routes are added and safe for concurrent use.
type router struct {
	routes []*route
	tree   node
}

// node is one path segment's place in the tree: the routes whose template
// ends here, those whose wildcard starts here, and the next segment's
// nodes, by literal and for a parameter.
type node struct {
	end, wild []int // indexes into routes, ascending
	literal   []child
	param     *node
}

// child is the node of the segment lit. A node has few: a scan of them
// beats a map's hashing.
type child struct {
	lit string
	n   *node
}

// next returns the child for the literal segment seg, or nil.
func (n *node) next(seg []byte) *node {
	for i := range n.literal {
		if n.literal[i].lit == string(seg) {
			return n.literal[i].n
		}
	}
	return nil
}

// add appends rt, the lowest-priority route so far.
func (r *router) add(rt *route) {
	i := len(r.routes)
	r.routes = append(r.routes, rt)
	n := &r.tree
	for _, s := range rt.segments {
		switch {
		case s.Wildcard:
			n.wild = append(n.wild, i)
			return
		case s.Param != "":
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		default:
			next := n.next([]byte(s.Literal))
			if next == nil {
				next = &node{}
				n.literal = append(n.literal, child{s.Literal, next})
			}
			n = next
		}
	}
	n.end = append(n.end, i)
}

// maxActive bounds the tree walk's nodes in play at one depth (a literal
// and a parameter branch each double them); past it, lookup scans.
const maxActive = 8

// candidate returns the lowest-indexed route that matches method and
// path, or -1, keeping every node a segment leads to in play: the walk follows the path's segments exactly as
// matchSegments matches them (a parameter takes one non-empty segment, a
// wildcard the rest, even nothing), so only the method is left to check.
// ok is false when the walk outgrew its fixed state and the caller must
// scan.
func (r *router) candidate(method, path []byte) (best int, ok bool) {
	best = -1
	if len(path) == 0 || path[0] != '/' {
		return -1, true
	}
	rest := path[1:]
	if len(rest) == 0 { // "/": the templates of no segment, and wildcards
		best = r.better(best, r.tree.end, method)
		return r.better(best, r.tree.wild, method), true
	}
	var cur, next [maxActive]*node
	cur[0] = &r.tree
	ncur := 1
	for {
		for _, n := range cur[:ncur] {
			best = r.better(best, n.wild, method)
		}
		if len(rest) == 0 {
			return best, true // a trailing "/" left an empty segment: only wildcards take it
		}
		seg := rest
		j := bytes.IndexByte(rest, '/')
		if j >= 0 {
			seg, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		nnext := 0
		for _, n := range cur[:ncur] {
			if c := n.next(seg); c != nil {
				if nnext == maxActive {
					return -1, false
				}
				next[nnext] = c
				nnext++
			}
			if n.param != nil && len(seg) > 0 {
				if nnext == maxActive {
					return -1, false
				}
				next[nnext] = n.param
				nnext++
			}
		}
		cur, ncur = next, nnext
		if ncur == 0 {
			return best, true
		}
		if rest == nil {
			for _, n := range cur[:ncur] {
				best = r.better(best, n.end, method)
				best = r.better(best, n.wild, method)
			}
			return best, true
		}
	}
}

// better returns the first of idxs below best whose route takes method,
// else best.
func (r *router) better(best int, idxs []int, method []byte) int {
	for _, i := range idxs {
		if best >= 0 && i >= best {
			return best
		}
		if r.routes[i].matchesMethod(method) {
			return i
		}
	}
	return best
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
	best, np, ok := r.walk(method, path, m)
	if !ok {
		if best, ok = r.candidate(method, path); !ok {
			return r.scan(method, path, m)
		}
		np = -1
	}
	if best < 0 {
		m.route = nil
		return false
	}
	m.route = r.routes[best]
	if np >= 0 {
		m.nparams = np
	} else {
		matchSegments(m.route.segments, path, m) // fills its parameters
	}
	return true
}

// walk is candidate for the common tree, where each segment of a path
// leads to one node at most: it collects the parameters on its way and
// returns how many of them belong to the route found (np). ok is false
// when a segment could go two ways (a literal and a parameter child) and
// candidate must walk instead.
func (r *router) walk(method, path []byte, m *match) (best, np int, ok bool) {
	best = -1
	if len(path) == 0 || path[0] != '/' {
		return -1, 0, true
	}
	n := &r.tree
	rest := path[1:]
	m.nparams = 0
	if len(rest) == 0 { // "/"
		best = r.better(best, n.end, method)
		return r.better(best, n.wild, method), 0, true
	}
	for {
		if len(n.wild) > 0 {
			if b := r.better(best, n.wild, method); b != best {
				best, np = b, m.nparams
			}
		}
		if len(rest) == 0 {
			return best, np, true // a trailing "/": only wildcards take it
		}
		seg := rest
		if j := bytes.IndexByte(rest, '/'); j >= 0 {
			seg, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		lit, par := n.next(seg), n.param
		if len(seg) == 0 {
			par = nil
		}
		switch {
		case lit != nil && par != nil:
			return -1, 0, false
		case lit != nil:
			n = lit
		case par != nil:
			m.params[m.nparams] = seg
			m.nparams++
			n = par
		default:
			return best, np, true
		}
		if rest == nil {
			for _, idxs := range [2][]int{n.end, n.wild} {
				if b := r.better(best, idxs, method); b != best {
					best, np = b, m.nparams
				}
			}
			return best, np, true
		}
	}
}

// scan is lookup by trying each route in turn.
func (r *router) scan(method, path []byte, m *match) bool {
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
