package loadtest

import "testing"

func TestTemplates(t *testing.T) {
	v := &values{key: []byte("K"), code: "C", seq: 42, run: "R", params: [][]byte{[]byte("P0"), []byte("P1")}}
	slots := map[string]int{"rid": 0, "site": 1}
	f := func(in, want string, unknown ...string) {
		t.Helper()
		var got []string
		out := string(parseTemplate(in, slots, func(name string) { got = append(got, name) }).appendTo(nil, v))
		if out != want || len(got) != len(unknown) {
			t.Errorf("%q renders %q, unknown %v; want %q, unknown %v", in, out, got, want, unknown)
		}
	}
	f("/v1/codes/{key}", "/v1/codes/K")
	f("/v1/codes/{key}/relatives/{rid}", "/v1/codes/K/relatives/P0")
	f(`{"code":"{code}","site":"{site}","sample_id":"{run}-{seq}"}`, `{"code":"C","site":"P1","sample_id":"R-42"}`)
	f(`{}{ key}{1x}{"a":{"b":1}}`, `{}{ key}{1x}{"a":{"b":1}}`)
	f("/{nope}/{key}", "/{nope}/K", "nope")
	f("", "")
}
