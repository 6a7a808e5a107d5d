package configs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	// maxErrors caps the problems reported for one file.
	maxErrors = 20
	// maxNodes caps the nodes visited, aliases expanded, so that a small
	// file cannot make the decoder walk a billion nodes.
	maxNodes = 1 << 16
)

var durationType = reflect.TypeFor[time.Duration]()

// Load reads the file at path and parses it with Parse. An unreadable file
// is an error naming it ("load config: open FILE: ..."); see Parse for the
// rest.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data strictly, applies the documented defaults and validates
// the result. path names the file in errors and in Config.Path.
//
// Every problem is an *Error formatted "<file>:<line>: <key path>: <what>".
// Parse reports all the decoding problems it finds (unknown keys, wrong
// types, duplicate keys); only when there are none does it validate, and
// then it reports all validation problems. The errors, at most 20, are
// sorted by line and joined with errors.Join, one per line.
func Parse(path string, data []byte) (*Config, error) {
	if path == "" {
		path = "<input>"
	}
	c := &Config{Path: path}
	c.setDefaults()
	if err := decodeStrict(path, data, reflect.ValueOf(c).Elem(), func(d *decoder) { validate(c, d); c.lines = d.lines }); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	c.Hash = hex.EncodeToString(sum[:])
	return c, nil
}

// decoder walks a yaml.Node tree against the Config type by reflection, so
// that it knows the line and the key path of every value.
type decoder struct {
	file   string
	errs   []*Error
	lines  map[string]int      // key path -> line of its key (or list item)
	set    map[string]bool     // key paths given a non-null value
	alias  map[*yaml.Node]bool // anchors being expanded, to refuse cycles
	nodes  int                 // nodes visited, against maxNodes
	tooBig bool                // maxNodes or the merge depth was exceeded
}

func (d *decoder) errorf(line int, key, format string, args ...any) {
	if key == "" {
		key = "(document)"
	}
	if len(d.errs) < maxErrors {
		d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
}

func (d *decoder) err() error {
	sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// lineOf returns the line of key, or of its nearest present ancestor: a
// missing key is reported at the line of the mapping that lacks it.
func (d *decoder) lineOf(key string) int {
	for {
		if l, ok := d.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return d.lines[""]
		}
		key = key[:i]
	}
}

var yamlErrRe = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// document parses data into its root node; nil, with an error recorded,
// when there is none usable.
func (d *decoder) document(data []byte) (root *yaml.Node) {
	defer func() {
		// The YAML library turns its own failures into errors; anything
		// else it panics with is reported, not propagated.
		if v := recover(); v != nil {
			d.errorf(1, "(yaml)", "parser failed: %v", v)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			d.errorf(1, "(document)", "empty config file")
		} else {
			d.syntax(err)
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		if err != nil {
			d.syntax(err)
		} else {
			d.errorf(next.Line, "(document)", "a second YAML document; a config file holds one")
		}
		return nil
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		d.errorf(1, "(document)", "empty config file")
		return nil
	}
	root = doc.Content[0]
	if root.Kind != yaml.MappingNode {
		d.errorf(root.Line, "(document)", "want a mapping of sections (server, upstreams, limiter, cache, routes), got %s", describe(root))
		return nil
	}
	return root
}

func (d *decoder) syntax(err error) {
	m := yamlErrRe.FindStringSubmatch(err.Error())
	if m == nil {
		d.errorf(1, "(yaml)", "%v", err)
		return
	}
	line, _ := strconv.Atoi(m[1])
	d.errorf(max(line, 1), "(yaml)", "%s", m[2])
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

// decode stores n into v, reporting problems under key.
func (d *decoder) decode(n *yaml.Node, key string, v reflect.Value) {
	if d.nodes++; d.nodes > maxNodes {
		if !d.tooBig {
			d.tooBig = true
			d.errorf(n.Line, key, "document too large: more than %d values with aliases expanded", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		d.decodeAlias(n, key, v)
		return
	}
	if isNull(n) {
		return // null keeps the default
	}
	d.set[key] = true
	t := v.Type()
	switch {
	case t == durationType:
		d.duration(n, key, v)
	case t.Kind() == reflect.Struct:
		d.mapping(n, key, v)
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(newValue(t))
		}
		d.decode(n, key, v.Elem())
	case t.Kind() == reflect.Map:
		d.mapOf(n, key, v)
	case t.Kind() == reflect.Slice:
		d.sequence(n, key, v)
	default:
		d.scalar(n, key, v)
	}
}

func (d *decoder) decodeAlias(n *yaml.Node, key string, v reflect.Value) {
	if n.Alias == nil || d.alias[n.Alias] {
		d.errorf(n.Line, key, "alias *%s refers to itself", n.Value)
		return
	}
	d.alias[n.Alias] = true
	d.decode(n.Alias, key, v)
	delete(d.alias, n.Alias)
}

// newValue returns a settable value of type t with its defaults applied;
// pointers point to a new defaulted value.
func newValue(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	target := v
	if t.Kind() == reflect.Pointer {
		v.Set(reflect.New(t.Elem()))
		target = v.Elem()
	}
	if df, ok := target.Addr().Interface().(defaulter); ok {
		df.setDefaults()
	}
	return v
}

func (d *decoder) mapping(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, key, "want a mapping, got %s", describe(n))
		return
	}
	fields, names := fieldsOf(v.Type())
	for _, p := range d.pairs(n, key) {
		k := join(key, p.key)
		i, ok := fields[p.key]
		if !ok {
			d.errorf(p.line, k, "unknown key%s", suggest(p.key, names))
			continue
		}
		d.lines[k] = p.line
		d.decode(p.val, k, v.Field(i))
	}
}

func (d *decoder) mapOf(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, key, "want a mapping of names, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, key) {
		k := join(key, p.key)
		d.lines[k] = p.line
		elem := newValue(v.Type().Elem())
		d.decode(p.val, k, elem)
		v.SetMapIndex(reflect.ValueOf(p.key), elem)
	}
}

func (d *decoder) sequence(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, key, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		d.lines[k] = item.Line
		elem := newValue(v.Type().Elem())
		d.decode(item, k, elem)
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

func (d *decoder) duration(n *yaml.Node, key string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, key, "want a duration, got %s", describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n.Line, key, "bad duration %q: want a number with a unit, such as 500ms, 2s, 1m or 720h", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) scalar(n *yaml.Node, key string, v reflect.Value) {
	want := map[reflect.Kind]string{
		reflect.String: "a string", reflect.Bool: "true or false",
		reflect.Int: "an integer", reflect.Int64: "an integer", reflect.Float64: "a number",
	}[v.Kind()]
	if want == "" {
		panic("BUG: configs: no decoder for " + v.Type().String())
	}
	if n.Kind != yaml.ScalarNode {
		hint := ""
		if v.Kind() == reflect.String && n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle != 0 {
			hint = ` (quote templates: key: "{id}")`
		}
		d.errorf(n.Line, key, "want %s, got %s%s", want, describe(n), hint)
		return
	}
	tag, ptr, ok := n.ShortTag(), v.Addr().Interface(), false
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
		return
	case reflect.Bool:
		ok = tag == "!!bool" && n.Decode(ptr) == nil
	case reflect.Float64:
		ok = (tag == "!!int" || tag == "!!float") && n.Decode(ptr) == nil
	default:
		ok = tag == "!!int" && d.integer(n, v) == nil
	}
	if !ok {
		d.errorf(n.Line, key, "want %s, got %s", want, describe(n))
	}
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value) error {
	var i int64
	if err := n.Decode(&i); err != nil {
		return err
	}
	if v.OverflowInt(i) {
		return errors.New("overflow")
	}
	v.SetInt(i)
	return nil
}

// pair is one key of a mapping, merges (<<) resolved.
type pair struct {
	key  string
	line int
	val  *yaml.Node
}

// pairs returns the keys of mapping n: its own, then those merged in with
// "<<" that it does not set itself. A duplicate own key is an error.
func (d *decoder) pairs(n *yaml.Node, key string) []pair {
	var own, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(val, key, 0)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, key, "want a plain key, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, join(key, k.Value), "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		own = append(own, pair{k.Value, k.Line, val})
	}
	for _, p := range merged {
		if _, ok := seen[p.key]; !ok {
			seen[p.key] = p.line
			own = append(own, p)
		}
	}
	return own
}

// merge returns the pairs a "<<" value brings: a mapping, an alias of one,
// or a list of those (earlier ones win).
func (d *decoder) merge(n *yaml.Node, key string, depth int) []pair {
	if d.nodes++; depth > 16 || d.nodes > maxNodes {
		if !d.tooBig {
			d.tooBig = true
			d.errorf(n.Line, key, "merge (<<) nested too deep or expanding too much")
		}
		return nil
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil || d.alias[n.Alias] {
			d.errorf(n.Line, key, "alias *%s refers to itself", n.Value)
			return nil
		}
		d.alias[n.Alias] = true
		defer delete(d.alias, n.Alias)
		return d.merge(n.Alias, key, depth+1)
	case yaml.MappingNode:
		return d.pairs(n, key)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range n.Content {
			if item.Kind == yaml.SequenceNode {
				d.errorf(item.Line, key, "merge (<<) of a list of lists")
				continue
			}
			out = append(out, d.merge(item, key, depth+1)...)
		}
		return out
	}
	d.errorf(n.Line, key, "merge (<<) wants a mapping, got %s", describe(n))
	return nil
}

// join appends a mapping key to a key path; a key that is not a plain word
// is quoted, so that a path never holds a newline or an ambiguous dot.
func join(key, name string) string {
	if name == "" || strings.IndexFunc(name, notWord) >= 0 {
		name = strconv.Quote(name)
	}
	if key == "" {
		return name
	}
	return key + "." + name
}

func notWord(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
}
