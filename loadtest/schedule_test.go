package loadtest

import (
	"testing"
	"time"
)

// compileTest compiles phases, failing the test on a problem.
func compileTest(t *testing.T, phases ...Phase) schedule {
	t.Helper()
	return compileSchedule(phases, func(key, format string, args ...any) {
		t.Fatalf("%s: "+format, append([]any{key}, args...)...)
	})
}

// offsets returns every arrival offset of s.
func offsets(s *schedule) []time.Duration {
	var out []time.Duration
	c := cursor{s: s}
	for {
		off, ok := c.next()
		if !ok {
			return out
		}
		out = append(out, off)
	}
}

func TestScheduleCounts(t *testing.T) {
	f := func(want int64, phases ...Phase) {
		t.Helper()
		s := compileTest(t, phases...)
		got := offsets(&s)
		if int64(len(got)) != want || s.count != want {
			t.Errorf("%+v: %d arrivals (count %d); want %d", phases, len(got), s.count, want)
		}
		for i := 1; i < len(got); i++ {
			if got[i] < got[i-1] || got[i] >= s.total {
				t.Fatalf("%+v: arrival %d at %v after %v (total %v): not increasing within the run", phases, i, got[i], got[i-1], s.total)
			}
		}
	}
	f(100, Phase{Rate: 100, Duration: time.Second})
	f(250, Phase{Kind: "step", Rate: 50, Duration: 5 * time.Second})
	f(1000, Phase{Kind: "ramp", From: 0, To: 200, Duration: 10 * time.Second})
	f(1000, Phase{Kind: "ramp", From: 200, To: 0, Duration: 10 * time.Second})
	f(0, Phase{Rate: 0, Duration: time.Second})
	f(1350, Phase{Rate: 100, Duration: time.Second}, Phase{Kind: "ramp", From: 100, To: 1000, Duration: time.Second},
		Phase{Kind: "step", Rate: 700, Duration: time.Second})
}

// A ramp's arrivals follow its rate: the first half of a 0 to 200/s ramp
// holds a quarter of them.
func TestRampShape(t *testing.T) {
	s := compileTest(t, Phase{Kind: "ramp", From: 0, To: 200, Duration: 10 * time.Second})
	half := 0
	for _, off := range offsets(&s) {
		if off < 5*time.Second {
			half++
		}
	}
	if half < 245 || half > 255 {
		t.Errorf("%d arrivals in the first half; want 250", half)
	}
	if r := s.rateAt(7500 * time.Millisecond); r != 150 {
		t.Errorf("rate at 7.5s = %v; want 150", r)
	}
}

// Constant arrivals are evenly spaced, starting at the phase start.
func TestConstantSpacing(t *testing.T) {
	s := compileTest(t, Phase{Rate: 10, Duration: time.Second}, Phase{Rate: 4, Duration: time.Second})
	got := offsets(&s)
	want := []time.Duration{0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1250, 1500, 1750}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if len(got) != len(want) {
		t.Fatalf("arrivals %v; want %v", got, want)
	}
	for i := range got {
		if d := got[i] - want[i]; d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("arrivals %v; want %v", got, want)
		}
	}
}
