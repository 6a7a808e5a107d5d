package configs

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	f := func(path string, want ...Segment) {
		t.Helper()
		got, err := ParseTemplate(path)
		if err != nil {
			t.Fatalf("ParseTemplate(%q): %v", path, err)
		}
		if got.Raw != path || len(got.Segments) != len(want) || len(want) > 0 && !reflect.DeepEqual(got.Segments, want) {
			t.Fatalf("ParseTemplate(%q) = %+v; want segments %+v", path, got, want)
		}
	}
	lit := func(s string) Segment { return Segment{Literal: s} }
	param := func(s string) Segment { return Segment{Param: s} }
	star := Segment{Wildcard: true}
	f("/")
	f("/*", star)
	f("/v1/*", lit("v1"), star)
	f("/v1/codes/{id}", lit("v1"), lit("codes"), param("id"))
	f("/v1/codes/{id}/relatives/{rid}", lit("v1"), lit("codes"), param("id"), lit("relatives"), param("rid"))
	f("/{_a1}/x.json", param("_a1"), lit("x.json"))

	bad := func(path, wantSubstr string) {
		t.Helper()
		if _, err := ParseTemplate(path); err == nil || !strings.Contains(err.Error(), wantSubstr) {
			t.Fatalf("ParseTemplate(%q) error %v; want %q", path, err, wantSubstr)
		}
	}
	bad("", "empty")
	bad("v1", "must start with /")
	bad("//", "empty segment")
	bad("/a//b", "empty segment")
	bad("/a/", "empty segment")
	bad("/{id}{rid}", "whole segment")
	bad("/{id}x", "whole segment")
	bad("/{}", "want a name")
	bad("/{1a}", "want a name")
	bad("/{a-b}", "want a name")
	bad("/{a}/{a}", "appears twice")
	bad("/*/a", "last segment")
	bad("/a*", "last segment")
	bad("/a?b", "?")
	bad("/a#b", "#")
	bad("/a b", "space")
}

func TestTemplateHelpers(t *testing.T) {
	tm, _ := ParseTemplate("/v1/{id}/r/{rid}/*")
	if got := tm.Params(); !reflect.DeepEqual(got, []string{"id", "rid"}) || !tm.HasWildcard() {
		t.Fatalf("Params() = %v, HasWildcard() = %v; want [id rid], true", got, tm.HasWildcard())
	}
	if root, _ := ParseTemplate("/"); root.HasWildcard() || root.Params() != nil {
		t.Fatalf("root template %+v; want no params, no wildcard", root)
	}
}

func TestParseKey(t *testing.T) {
	path, _ := ParseTemplate("/v1/codes/{id}/relatives/{rid}")
	k, err := ParseKey("{id}:{rid}", path)
	want := []KeyPart{{Param: "id"}, {Literal: ":"}, {Param: "rid"}}
	if err != nil || !reflect.DeepEqual(k.Parts, want) || k.Raw != "{id}:{rid}" {
		t.Fatalf("ParseKey = %+v, %v; want parts %+v", k, err, want)
	}
	if k, err := ParseKey("all", path); err != nil || !reflect.DeepEqual(k.Parts, []KeyPart{{Literal: "all"}}) {
		t.Fatalf("ParseKey(all) = %+v, %v; want one literal", k, err)
	}
	if k, err := ParseKey("", path); err != nil || len(k.Parts) != 0 {
		t.Fatalf("ParseKey(\"\") = %+v, %v; want no parts", k, err)
	}
	for key, wantSubstr := range map[string]string{
		"{x}":    "param {x} is not in path",
		"{id":    "{ without }",
		"id}":    "} without {",
		"{}":     "want a name",
		"{i{d}}": "want a name",
	} {
		if _, err := ParseKey(key, path); err == nil || !strings.Contains(err.Error(), wantSubstr) {
			t.Fatalf("ParseKey(%q) error %v; want %q", key, err, wantSubstr)
		}
	}
}
