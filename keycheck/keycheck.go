// Package keycheck validates identity keys at the gateway's edge, so that
// a malformed key is answered 400 without costing the backend a call:
// every distinct malformed ID would otherwise be a miss, and per-key rates
// do nothing against a client that never repeats one.
//
// It knows no HTTP; the gateway maps configured names onto Check.
package keycheck

import "regexp"

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

// residentWeights are the ISO 7064 MOD 11-2 weights of the first 17
// characters of a resident ID (GB 11643-1999), and residentCheck the check
// character for each remainder of the weighted sum modulo 11.
var (
	residentWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	residentCheck   = "10X98765432"
)

// ResidentID reports whether v is a well-formed resident ID: 17 digits and
// the check character they give (a digit or X, either case). It does not
// check the region or the birth date: that is the issuer's business, and
// a date check here would need the issuer's notion of today.
func ResidentID(v []byte) bool {
	if len(v) != 18 {
		return false
	}
	sum := 0
	for i, w := range residentWeights {
		c := v[i]
		if c < '0' || c > '9' {
			return false
		}
		sum += int(c-'0') * w
	}
	want, got := residentCheck[sum%11], v[17]
	if got == 'x' {
		got = 'X'
	}
	return got == want
}
