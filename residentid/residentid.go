// Package residentid is the format of the 18-character resident ID number
// (GB 11643-1999): 6 region digits, the birth date YYYYMMDD, 3 sequence
// digits and an ISO 7064 MOD 11-2 check character. The simulated issuer
// validates with it, the load harness makes IDs with it, and the gateway's
// resident_id validator uses its check character. IDs are personal data:
// nothing here logs or echoes one.
package residentid

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// Len is the length of a resident ID number.
const Len = 18

// weights are the ISO 7064 MOD 11-2 weights of the first 17 digits.
var weights = [Len - 1]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// checkChars maps the weighted sum modulo 11 to the check character.
const checkChars = "10X98765432"

// Error is the error of a malformed resident ID. Its Reason never contains
// the ID itself, so it is safe to log and to send back to the client.
type Error struct {
	Reason string
}

// Error returns "invalid resident id: " followed by the reason.
func (e *Error) Error() string {
	return "invalid resident id: " + e.Reason
}

// ValidAt reports whether id is a well-formed 18-character resident ID at
// time now: 17 digits then a digit or 'X', characters 7 to 14 a real
// birth date YYYYMMDD no earlier than 1900 and not after now (UTC), and
// the last character the ISO 7064 MOD 11-2 check character. It returns nil
// or an *Error. It is safe for concurrent use and does not retain id.
func ValidAt(id []byte, now time.Time) error {
	if len(id) != Len {
		return &Error{Reason: "length " + strconv.Itoa(len(id)) + ", want 18"}
	}
	for i, c := range id[:Len-1] {
		if c < '0' || c > '9' {
			return &Error{Reason: "character " + strconv.Itoa(i+1) + " is not a digit"}
		}
	}
	if last := id[Len-1]; (last < '0' || last > '9') && last != 'X' {
		return &Error{Reason: "check character is not a digit or X"}
	}
	birth, ok := Birth(id)
	switch {
	case !ok:
		return &Error{Reason: "bad birth date"}
	case birth.Year() < 1900:
		return &Error{Reason: "birth year before 1900"}
	case birth.After(now.UTC()):
		return &Error{Reason: "birth date in the future"}
	}
	if CheckDigit(id[:Len-1]) != id[Len-1] {
		return &Error{Reason: "wrong check digit"}
	}
	return nil
}

// Birth decodes characters 7 to 14 of an ID already known to hold
// digits there, as midnight UTC. ok is false for an impossible date.
func Birth(id []byte) (birth time.Time, ok bool) {
	y := digits(id[6:10])
	m := digits(id[10:12])
	d := digits(id[12:14])
	birth = time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	ok = birth.Year() == y && int(birth.Month()) == m && birth.Day() == d
	return birth, ok
}

// digits returns the decimal value of b, which must hold only digits.
func digits(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

// CheckDigit returns the ISO 7064 MOD 11-2 check character ('0' to '9' or
// 'X') of the first 17 characters of a resident ID. It returns 0 when
// first17 is not exactly 17 ASCII digits.
func CheckDigit(first17 []byte) byte {
	if len(first17) != Len-1 {
		return 0
	}
	sum := 0
	for i, c := range first17 {
		if c < '0' || c > '9' {
			return 0
		}
		sum += int(c-'0') * weights[i]
	}
	return checkChars[sum%11]
}

// Make returns a valid resident ID for a person born on the given date
// (its UTC calendar date): a random region code, the birth date, a random
// sequence number and the check character. rng nil means the
// math/rand/v2 top-level source (safe for concurrent use); a non-nil rng is
// used as is, so it is safe for concurrent use only if its source is.
// Make does not check that birth is in a valid range (1900 to today).
func Make(rng *rand.Rand, birth time.Time) string {
	intN := rand.IntN
	if rng != nil {
		intN = rng.IntN
	}
	b := make([]byte, 0, Len)
	b = strconv.AppendInt(b, int64(110000+intN(540000)), 10)
	b = append(b, birth.UTC().Format("20060102")...)
	b = append(b, byte('0'+intN(10)), byte('0'+intN(10)), byte('0'+intN(10)))
	return string(append(b, CheckDigit(b)))
}
