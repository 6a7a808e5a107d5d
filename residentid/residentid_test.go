package residentid

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestValidAt(t *testing.T) {
	now := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	f := func(id, wantReason string) {
		t.Helper()
		err := ValidAt([]byte(id), now)
		if wantReason == "" {
			if err != nil {
				t.Errorf("ValidAt(%q): got %v; want nil", id, err)
			}
			return
		}
		var idErr *Error
		if !errors.As(err, &idErr) {
			t.Fatalf("ValidAt(%q): got %v; want an *Error", id, err)
		}
		if idErr.Reason != wantReason {
			t.Errorf("ValidAt(%q): got reason %q; want %q", id, idErr.Reason, wantReason)
		}
		if len(id) > 4 && strings.Contains(err.Error(), id) {
			t.Errorf("ValidAt(%q): error %q echoes the ID", id, err)
		}
	}
	f("11010519491231002X", "")                                   // X check digit
	f("110105194912310021", "wrong check digit")                  // X expected
	f(withCheck("11010519900307123"), "")                         // digit check
	f(withCheck("11010520240601123"), "")                         // born today
	f(withCheck("11010520240602123"), "birth date in the future") // tomorrow
	f(withCheck("11010520230229123"), "bad birth date")           // not a leap year
	f(withCheck("11010520241301123"), "bad birth date")           // month 13
	f(withCheck("11010519000229123"), "bad birth date")           // 1900 is no leap year
	f(withCheck("11010518991231123"), "birth year before 1900")
	f("1101051949123100", "length 16, want 18")
	f("11010519491231002X1", "length 19, want 18")
	f("", "length 0, want 18")
	f("1101051949123100AX", "character 17 is not a digit")
	f("11010519491231002x", "check character is not a digit or X")
}

// withCheck appends the check character to 17 digits.
func withCheck(first17 string) string {
	return first17 + string(CheckDigit([]byte(first17)))
}

func TestCheckDigit(t *testing.T) {
	f := func(first17 string, want byte) {
		t.Helper()
		if got := CheckDigit([]byte(first17)); got != want {
			t.Errorf("CheckDigit(%q): got %q; want %q", first17, got, want)
		}
	}
	f("11010519491231002", 'X')
	f("44052418800101001", '4')
	f("1101051949123100", 0)  // too short
	f("1101051949123100A", 0) // not a digit
}

func TestMakeIDRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	span := time.Since(start)
	for range 2000 {
		birth := start.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(24 * time.Hour)
		id := Make(rng, birth)
		if err := ValidAt([]byte(id), time.Now()); err != nil {
			t.Fatalf("ValidAt(Make(%v)): got %v; want nil", birth, err)
		}
		if got, _ := Birth([]byte(id)); !got.Equal(birth) {
			t.Fatalf("birth date of Make(%v): got %v", birth, got)
		}
	}
	if err := ValidAt([]byte(Make(nil, time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC))), time.Now()); err != nil {
		t.Errorf("ValidAt(Make(nil, ...)): got %v; want nil", err)
	}
}
