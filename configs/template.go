package configs

import (
	"errors"
	"fmt"
	"strings"
)

// MaxParams bounds the {name} parameters of one path template: the
// gateway keeps a match's parameters in a fixed array, so that matching
// allocates nothing.
const MaxParams = 8

// Template is a parsed route path such as /v1/codes/{id}/reissue or /v1/*.
// The root path "/" has no segments.
type Template struct {
	// Raw is the template as written.
	Raw string
	// Segments are the parts between slashes, in order.
	Segments []Segment
}

// Segment is one part of a Template: exactly one of its fields is set.
type Segment struct {
	Literal  string // matches itself exactly
	Param    string // {name}: matches any one non-empty segment
	Wildcard bool   // *: the last segment; matches the rest of the path
}

// ParseTemplate parses a route path template. It must start with "/"; its
// segments are literals or {name} params (name [a-z_][a-z0-9_]*, unique
// within the template) filling the whole segment; "*" may only be the whole
// last segment; empty segments ("//", a trailing "/" other than the root
// "/"), "?" and "#" are refused, and so are more than MaxParams params.
func ParseTemplate(path string) (Template, error) {
	t := Template{Raw: path}
	switch {
	case path == "":
		return t, errors.New("empty path template")
	case path[0] != '/':
		return t, fmt.Errorf("path template %q must start with /", path)
	case strings.ContainsAny(path, "?#"):
		return t, fmt.Errorf("path template %q must not contain ? or #: routes match the path only", path)
	case path == "/":
		return t, nil
	}
	parts := strings.Split(path[1:], "/")
	t.Segments = make([]Segment, 0, len(parts))
	for i, s := range parts {
		seg, err := parseSegment(s, i == len(parts)-1)
		if err != nil {
			return t, fmt.Errorf("path template %q: %v", path, err)
		}
		if seg.Param != "" && t.hasParam(seg.Param) {
			return t, fmt.Errorf("path template %q: param {%s} appears twice", path, seg.Param)
		}
		t.Segments = append(t.Segments, seg)
	}
	if n := len(t.Params()); n > MaxParams {
		return t, fmt.Errorf("path template %q: %d parameters, at most %d", path, n, MaxParams)
	}
	return t, nil
}

func parseSegment(s string, last bool) (Segment, error) {
	switch {
	case s == "":
		return Segment{}, errors.New(`empty segment ("//" or a trailing "/")`)
	case s == "*" && last:
		return Segment{Wildcard: true}, nil
	case strings.Contains(s, "*"):
		return Segment{}, fmt.Errorf("segment %q: * may only be the whole last segment", s)
	case s[0] == '{' && s[len(s)-1] == '}':
		name := s[1 : len(s)-1]
		if strings.ContainsAny(name, "{}") {
			return Segment{}, fmt.Errorf("segment %q: a param must fill its whole segment", s)
		}
		if !validParam(name) {
			return Segment{}, fmt.Errorf("param {%s}: want a name like {id} ([a-z_][a-z0-9_]*)", name)
		}
		return Segment{Param: name}, nil
	case strings.ContainsAny(s, "{}"):
		return Segment{}, fmt.Errorf("segment %q: a param must fill its whole segment", s)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return Segment{}, fmt.Errorf("segment %q: space or control character", s)
		}
	}
	return Segment{Literal: s}, nil
}

func validParam(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (t Template) hasParam(name string) bool {
	for _, s := range t.Segments {
		if s.Param == name {
			return true
		}
	}
	return false
}

// Params returns the names of t's params in path order.
func (t Template) Params() []string {
	var names []string
	for _, s := range t.Segments {
		if s.Param != "" {
			names = append(names, s.Param)
		}
	}
	return names
}

// HasWildcard reports whether t ends with "*".
func (t Template) HasWildcard() bool {
	n := len(t.Segments)
	return n > 0 && t.Segments[n-1].Wildcard
}

// shape is t with param names erased: two templates with the same shape
// match the same paths.
func (t Template) shape() string {
	var b strings.Builder
	for _, s := range t.Segments {
		b.WriteByte('/')
		switch {
		case s.Param != "":
			b.WriteString("{}")
		case s.Wildcard:
			b.WriteByte('*')
		default:
			b.WriteString(s.Literal)
		}
	}
	return b.String()
}

// KeyTemplate is a parsed route key such as "{id}" or "{id}:{rid}".
type KeyTemplate struct {
	// Raw is the key template as written.
	Raw string
	// Parts are literal text and params, in order; exactly one field of a
	// part is set.
	Parts []KeyPart
}

// KeyPart is one piece of a KeyTemplate.
type KeyPart struct {
	Literal string // copied as is
	Param   string // replaced by the value of the path param of this name
}

// ParseKey parses a key template against the route's path template: text
// with {name} params, each of which must be a param of path. The empty key
// parses to an empty KeyTemplate.
func ParseKey(key string, path Template) (KeyTemplate, error) {
	k := KeyTemplate{Raw: key}
	rest := key
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			k.Parts = append(k.Parts, KeyPart{Literal: rest})
			break
		}
		if rest[open] == '}' {
			return k, fmt.Errorf("key template %q: } without {", key)
		}
		if open > 0 {
			k.Parts = append(k.Parts, KeyPart{Literal: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return k, fmt.Errorf("key template %q: { without }", key)
		}
		name := rest[open+1 : open+end]
		if !validParam(name) {
			return k, fmt.Errorf("key template %q: param {%s}: want a name like {id} ([a-z_][a-z0-9_]*)", key, name)
		}
		if !path.hasParam(name) {
			return k, fmt.Errorf("key template %q: param {%s} is not in path %s (have %s)",
				key, name, path.Raw, orNone(path.Params()))
		}
		k.Parts = append(k.Parts, KeyPart{Param: name})
		rest = rest[open+end+1:]
	}
	return k, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return "{" + strings.Join(names, "}, {") + "}"
}
