package loadtest

import (
	"math/rand/v2"
	"testing"
	"time"

	"shedgate/residentid"
)

// mustKey compiles k, failing the test on a problem.
func mustKey(t *testing.T, k Key) *keyGen {
	t.Helper()
	return compileKey(k, "key", func(key, format string, args ...any) {
		t.Fatalf("%s: "+format, append([]any{key}, args...)...)
	})
}

func intp(i int) *int { return &i }

// Resident IDs are valid (birth date, check digit), of the asked ages,
// and the same for the same seed and index.
func TestResidentIDKeys(t *testing.T) {
	today := utcDate(time.Now())
	g := mustKey(t, Key{Kind: "resident_id", Population: 1000, Seed: 7, MinAge: intp(60), MaxAge: intp(95)})
	seen := map[string]bool{}
	for i := range int64(1000) {
		id := g.appendKey(nil, i, today)
		if err := residentid.ValidAt(id, time.Now()); err != nil {
			t.Fatalf("key %d = %s: %v", i, id, err)
		}
		birth, _ := time.Parse("20060102", string(id[6:14]))
		if age := today.Year() - birth.Year(); age < 60 || age > 96 {
			t.Fatalf("key %d = %s: age about %d; want 60 to 95", i, id, age)
		}
		if string(g.appendKey(nil, i, today)) != string(id) {
			t.Fatalf("key %d differs between two calls", i)
		}
		seen[string(id)] = true
	}
	if len(seen) < 999 {
		t.Errorf("%d distinct IDs of 1000", len(seen))
	}
	other := mustKey(t, Key{Kind: "uniform", Population: 1000, Format: "resident_id", Seed: 8})
	if string(other.appendKey(nil, 0, today)) == string(g.appendKey(nil, 0, today)) {
		t.Errorf("seeds 7 and 8 give the same person 0")
	}
}

// Draws stay in the population and follow their distribution.
func TestKeyDraws(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	count := func(k Key, n int) map[int64]int {
		d := newKeyDraw(mustKey(t, k), rng)
		m := map[int64]int{}
		for range n {
			i := d.draw()
			if i < 0 || i >= k.Population {
				t.Fatalf("%+v: drew %d, outside 0 to %d", k, i, k.Population-1)
			}
			m[i]++
		}
		return m
	}
	z := count(Key{Kind: "zipf", Population: 1000, S: 1.1}, 10000)
	if z[0] < z[1] || z[0] < 1000 {
		t.Errorf("zipf: key 0 drawn %d times, key 1 %d; want key 0 the most, about 12%%", z[0], z[1])
	}
	u := count(Key{Kind: "uniform", Population: 10}, 10000)
	for i, n := range u {
		if n < 850 || n > 1150 {
			t.Errorf("uniform: key %d drawn %d times of 10000; want about 1000", i, n)
		}
	}
	d := newKeyDraw(mustKey(t, Key{Kind: "sequential", Population: 3}), rng)
	for i, want := range []int64{0, 1, 2, 0, 1} {
		if got := d.draw(); got != want {
			t.Errorf("sequential draw %d = %d; want %d", i, got, want)
		}
	}
	if got := string(mustKey(t, Key{Kind: "uniform", Population: 5, Prefix: "venue-"}).appendKey(nil, 42, time.Time{})); got != "venue-42" {
		t.Errorf("number key = %q; want venue-42", got)
	}
}
