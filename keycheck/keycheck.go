// Package keycheck validates identity keys at the gateway's edge, so that
// a malformed key is answered 400 without costing the backend a call:
// every distinct malformed ID would otherwise be a miss, and per-key rates
// do nothing against a client that never repeats one.
//
// It knows no HTTP; the gateway maps configured names onto Check.
package keycheck

import (
	"regexp"

	"shedgate/residentid"
)

// Check reports whether a path parameter's value is well formed.
type Check func(v []byte) bool

// Named returns the check of a named validator (see configs.Validators)
// and whether there is one.
func Named(name string) (Check, bool) {
	switch name {
	case "resident_id":
		return ResidentID, true
	case "digits":
		return Digits, true
	}
	return nil, false
}

// Pattern returns a check that re matches the value (anchor re to
// match the whole value).
func Pattern(re *regexp.Regexp) Check { return re.Match }

// Digits reports whether v is 1 to 32 ASCII digits.
func Digits(v []byte) bool {
	if len(v) == 0 || len(v) > 32 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ResidentID reports whether v is a well-formed resident ID: 17 digits and
// the check character they give (a digit or X, either case). It does not
// check the region or the birth date: that is the issuer's business, and
// a date check here would need the issuer's notion of today.
func ResidentID(v []byte) bool {
	if len(v) != residentid.Len {
		return false
	}
	want, got := residentid.CheckDigit(v[:residentid.Len-1]), v[residentid.Len-1]
	if got == 'x' {
		got = 'X'
	}
	return want != 0 && got == want
}
