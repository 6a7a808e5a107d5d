package loadtest

import (
	"sort"
	"strconv"
	"strings"
)

// Placeholders of templates; a named param is phParam plus its slot.
const (
	phNone = iota
	phKey
	phCode
	phSeq
	phRun
	phParam
)

// builtinPlaceholders are the names that are not params.
var builtinPlaceholders = map[string]int{"key": phKey, "code": phCode, "seq": phSeq, "run": phRun}

// segment is a literal or one placeholder of a template.
type segment struct {
	lit string
	ph  int
}

// tmpl is a compiled template: literals and placeholders in order.
type tmpl []segment

// values are what a logical request's placeholders are replaced with.
type values struct {
	key    []byte
	code   string
	seq    uint64
	run    string
	params [][]byte
}

// parseTemplate compiles s. slots maps param names to their slot. unknown
// is called with every {name} that is neither a builtin nor a param.
func parseTemplate(s string, slots map[string]int, unknown func(name string)) tmpl {
	var t tmpl
	lit := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		name, ok := placeholderAt(s[i+1:])
		if !ok {
			continue
		}
		ph, found := builtinPlaceholders[name]
		if slot, isParam := slots[name]; isParam && !found {
			ph, found = phParam+slot, true
		}
		if !found {
			unknown(name)
			continue
		}
		if lit < i {
			t = append(t, segment{lit: s[lit:i]})
		}
		t = append(t, segment{ph: ph})
		i += len(name) + 1
		lit = i + 1
	}
	if lit < len(s) {
		t = append(t, segment{lit: s[lit:]})
	}
	return t
}

// placeholderAt reports whether s (what follows a '{') starts with a name
// and a '}', and returns the name.
func placeholderAt(s string) (string, bool) {
	end := strings.IndexByte(s, '}')
	if end < 1 {
		return "", false
	}
	for i, c := range []byte(s[:end]) {
		letter := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return "", false
		}
	}
	return s[:end], true
}

// uses reports whether t holds placeholder ph.
func (t tmpl) uses(ph int) bool {
	for _, s := range t {
		if s.ph == ph {
			return true
		}
	}
	return false
}

// appendTo appends t with v's values to dst.
func (t tmpl) appendTo(dst []byte, v *values) []byte {
	for _, s := range t {
		switch {
		case s.ph == phNone:
			dst = append(dst, s.lit...)
		case s.ph == phKey:
			dst = append(dst, v.key...)
		case s.ph == phCode:
			dst = append(dst, v.code...)
		case s.ph == phSeq:
			dst = strconv.AppendUint(dst, v.seq, 10)
		case s.ph == phRun:
			dst = append(dst, v.run...)
		default:
			dst = append(dst, v.params[s.ph-phParam]...)
		}
	}
	return dst
}

// paramSlots numbers the params' names in sorted order.
func paramSlots(params map[string]Key) (map[string]int, []string) {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	slots := make(map[string]int, len(names))
	for i, name := range names {
		slots[name] = i
	}
	return slots, names
}
