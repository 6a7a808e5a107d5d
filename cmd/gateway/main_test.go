package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shedgate/internal/badconfigs"
)

// TestCheckShippedConfigs: -check accepts every config the repository
// ships and prints what it sets up.
func TestCheckShippedConfigs(t *testing.T) {
	shipped, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(shipped) == 0 {
		t.Fatalf("no shipped configs found: %v", err)
	}
	for _, path := range shipped {
		var out, errs strings.Builder
		if rc := run([]string{"-check", "-config", path}, &out, &errs); rc != 0 {
			t.Errorf("-check %s: exit %d; want 0\n%s", path, rc, errs.String())
			continue
		}
		for _, want := range []string{"route code: GET /v1/codes/{id} -> issuer, class normal", "is valid"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("-check %s: summary has no %q:\n%s", path, want, out.String())
			}
		}
	}
}

// TestCheckBadConfigs: -check refuses each config of the bad-config table
// with exit 1 and the error's FILE:LINE: KEY on stderr.
func TestCheckBadConfigs(t *testing.T) {
	dir := t.TempDir()
	cases := badconfigs.Cases()
	if len(cases) < 100 {
		t.Fatalf("%d bad configs in the table; want the whole table", len(cases))
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.File)
		if err := os.WriteFile(path, []byte(c.YAML), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errs strings.Builder
		rc := run([]string{"-check", "-config", path}, &out, &errs)
		prefix := filepath.Join(dir, c.Prefix())
		found := false
		for _, line := range strings.Split(errs.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, prefix); ok && strings.Contains(rest, c.Msg) {
				found = true
			}
		}
		if rc != 1 || !found || out.Len() != 0 {
			t.Errorf("-check %s: exit %d, stdout %q, stderr\n%s\nwant exit 1 and a line %q...%q", c.File, rc, out.String(), errs.String(), prefix, c.Msg)
		}
	}
}

func TestCheckMissingFile(t *testing.T) {
	var out, errs strings.Builder
	path := filepath.Join(t.TempDir(), "nope.yaml")
	if rc := run([]string{"-check", "-config", path}, &out, &errs); rc != 1 || !strings.Contains(errs.String(), path) {
		t.Errorf("-check of a missing file: exit %d, stderr %q; want 1 naming the file", rc, errs.String())
	}
}

func TestVersion(t *testing.T) {
	var out, errs strings.Builder
	if rc := run([]string{"-version"}, &out, &errs); rc != 0 || !strings.HasPrefix(out.String(), "gateway shedgate") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("-version: exit %d, %q; want 0 and the module and Go version", rc, out.String())
	}
}

func TestStrayArgument(t *testing.T) {
	var out, errs strings.Builder
	if rc := run([]string{"-check", "configs/gateway.yaml"}, &out, &errs); rc != 2 || !strings.Contains(errs.String(), "unexpected argument") {
		t.Errorf("a path without -config: exit %d, %q; want 2 and a clear error", rc, errs.String())
	}
}

// The default config path is absolute, as a unit or a container gives it,
// so the gateway reads the same file whatever its working directory.
func TestDefaultConfigPathIsAbsolute(t *testing.T) {
	const def = "/etc/shedgate/gateway.yaml"
	if _, err := os.Stat(def); err == nil {
		t.Skipf("%s exists on this machine", def)
	}
	var out, errs strings.Builder
	if rc := run([]string{"-check"}, &out, &errs); rc != 1 || !strings.Contains(errs.String(), def) {
		t.Fatalf("-check without -config: exit %d, %q; want 1 naming %s", rc, errs.String(), def)
	}
}
