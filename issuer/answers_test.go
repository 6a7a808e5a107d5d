package issuer

import (
	"testing"
	"time"
)

func TestAgeAt(t *testing.T) {
	birth := time.Date(2006, 6, 2, 0, 0, 0, 0, time.UTC)
	f := func(now string, want int) {
		t.Helper()
		n, err := time.Parse(time.RFC3339, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := ageAt(birth, n); got != want {
			t.Errorf("ageAt(2006-06-02, %s): got %d; want %d", now, got, want)
		}
	}
	f("2024-06-01T23:59:59Z", 17)
	f("2024-06-02T00:00:00Z", 18)
	f("2024-12-31T00:00:00Z", 18)
}
