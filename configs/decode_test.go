package configs

import (
	"strings"
	"testing"
	"time"
)

type decodeDoc struct {
	Name   string `yaml:"name"`
	Phases []struct {
		Rate     float64       `yaml:"rate"`
		Duration time.Duration `yaml:"duration"`
	} `yaml:"phases"`
}

func TestDecode(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		var doc decodeDoc
		err := Decode("s.yaml", []byte(src), &doc, func(report func(key, format string, args ...any)) {
			for i, p := range doc.Phases {
				if p.Rate <= 0 {
					report("phases["+string(rune('0'+i))+"].rate", "must be positive, got %v", p.Rate)
				}
			}
		})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Fatalf("Decode(%q): error %q; want it to contain %q", src, got, want)
		}
	}
	f("name: a\nphases:\n  - {rate: 5, duration: 1s}\n", "")
	f("name: a\nnmae: b\n", "s.yaml:2: nmae: unknown key")
	f("name: a\nphases:\n  - {rate: 5, duration: soon}\n", "s.yaml:3: phases[0].duration:")
	f("name: a\nphases:\n  - {rate: 5, duration: 1s}\n  - {rate: 0, duration: 1s}\n", "s.yaml:4: phases[1].rate: must be positive, got 0")
}
