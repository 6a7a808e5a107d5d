package configs

import (
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// Decode decodes data strictly into out, a non-nil pointer to a struct with
// yaml tags, with the same rules and error form as Parse
// ("<file>:<line>: <key path>: <what>"): unknown keys, wrong types and
// duplicate keys are errors. Fields keep the values out already holds
// unless the file sets them. When decoding succeeds and check is not nil,
// check runs and reports each problem through report, naming the key path
// ("phases[2].rate"); the line is looked up for it. Other files with the
// project's strictness (load-test scenarios) are read with it.
func Decode(path string, data []byte, out any, check func(report func(key, format string, args ...any))) error {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("BUG: configs.Decode wants a pointer to a struct, got %T", out))
	}
	var wrapped func(d *decoder)
	if check != nil {
		wrapped = func(d *decoder) {
			check(func(key, format string, args ...any) {
				d.errorf(d.lineOf(key), key, format, args...)
			})
		}
	}
	return decodeStrict(path, data, v.Elem(), wrapped)
}

// decodeStrict decodes data into v and, when that succeeds, runs check with
// the decoder that knows every key's line. It returns all problems found.
func decodeStrict(path string, data []byte, v reflect.Value, check func(d *decoder)) error {
	if path == "" {
		path = "<input>"
	}
	d := &decoder{
		file:  path,
		lines: map[string]int{"": 1},
		set:   map[string]bool{},
		alias: map[*yaml.Node]bool{},
	}
	root := d.document(data)
	if root != nil {
		d.lines[""] = root.Line
		d.decode(root, "", v)
	}
	if len(d.errs) == 0 && check != nil {
		check(d)
	}
	if len(d.errs) > 0 {
		return d.err()
	}
	return nil
}
