package keycheck

import (
	"regexp"
	"testing"

	"shedgate/configs"
)

func TestResidentID(t *testing.T) {
	for id, want := range map[string]bool{
		"11010519491231002X":  true,  // check character X
		"11010519491231002x":  true,  // either case
		"110105201003071239":  true,  // digit check character
		"310104199001011233":  true,  // another region
		"110105194912310021":  false, // wrong check digit
		"11010519491231002":   false, // 17 characters
		"11010519491231002XX": false,
		"1101051949123100-X":  false,
		"":                    false,
		"A10105194912310021":  false,
	} {
		if got := ResidentID([]byte(id)); got != want {
			t.Errorf("ResidentID(%q) = %v; want %v", id, got, want)
		}
	}
}

func TestDigitsAndPattern(t *testing.T) {
	for v, want := range map[string]bool{"0": true, "12345": true, "": false, "12a": false, "123456789012345678901234567890123": false} {
		if got := Digits([]byte(v)); got != want {
			t.Errorf("Digits(%q) = %v; want %v", v, got, want)
		}
	}
	venue := Pattern(regexp.MustCompile(`^(?:V[0-9]{4})$`))
	if !venue([]byte("V1234")) || venue([]byte("V12345")) || venue([]byte("xV1234")) {
		t.Errorf("Pattern: V1234 must match, V12345 and xV1234 must not")
	}
	for _, name := range []string{"resident_id", "digits"} {
		if _, ok := Named(name); !ok {
			t.Errorf("Named(%q): none", name)
		}
	}
}

func TestChecksAllocateNothing(t *testing.T) {
	id := []byte("11010519491231002X")
	if n := testing.AllocsPerRun(100, func() { ResidentID(id) }); n != 0 {
		t.Fatalf("ResidentID allocates %v times; want 0", n)
	}
}

// Every validator the config accepts by name has a check.
func TestEveryConfigNameHasACheck(t *testing.T) {
	for _, name := range configs.Validators {
		if _, ok := Named(name); !ok {
			t.Errorf("configs.Validators names %q; keycheck has no such check", name)
		}
	}
}
