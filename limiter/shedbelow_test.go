package limiter

import (
	"testing"
	"time"
)

// TestShedBelowAndOnLoss: a loss of a class is told to OnLoss, and
// ShedBelow (another gateway's loss) sheds the lower classes at arrival
// while the class itself and those above are still admitted.
func TestShedBelowAndOnLoss(t *testing.T) {
	var lost []int
	l, err := New(Config{InitialLimit: 1, MinLimit: 1, MaxLimit: 1,
		Classes: []ClassConfig{{Name: "critical", MaxQueue: 10, MaxWait: time.Second},
			{Name: "high", MaxQueue: 0}, {Name: "low", MaxQueue: 10, MaxWait: time.Second}},
		OnLoss: func(c int) { lost = append(lost, c) }})
	if err != nil {
		t.Fatal(err)
	}
	tok, r := l.Acquire(0, 0, time.Time{}) // the only slot: the backend is busy
	if r != ReasonNone {
		t.Fatalf("first Acquire: %v", r)
	}
	if _, r := l.Acquire(1, 0, time.Time{}); r != ReasonQueueFull {
		t.Fatalf("high with no queue and no slot: %v; want queue full", r)
	}
	if len(lost) != 1 || lost[0] != 1 {
		t.Fatalf("OnLoss got %v; want [1] (the high request lost)", lost)
	}
	tok.Release(time.Millisecond, OutcomeOK)

	l2, err := New(Config{InitialLimit: 1, MinLimit: 1, MaxLimit: 1,
		Classes: []ClassConfig{{Name: "critical", MaxQueue: 10, MaxWait: time.Second},
			{Name: "high", MaxQueue: 10, MaxWait: time.Second}, {Name: "low", MaxQueue: 10, MaxWait: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	busy, _ := l2.Acquire(0, 0, time.Time{})
	l2.ShedBelow(1) // another gateway lost a high request
	if _, r := l2.Acquire(2, 0, time.Time{}); r != ReasonShed {
		t.Fatalf("low after ShedBelow(high): %v; want shed at arrival", r)
	}
	busy.Release(time.Millisecond, OutcomeOK)
	if _, r := l2.Acquire(1, 0, time.Time{}); r != ReasonNone {
		t.Fatalf("high after ShedBelow(high): %v; want admitted", r)
	}
	l2.ShedBelow(7) // no such class: ignored
	l2.ShedBelow(-1)
}

// TestSetFloor: a floor raises the limit in force, not the controller's
// own, and a floor of 0 takes it back.
func TestSetFloor(t *testing.T) {
	l, err := New(Config{InitialLimit: 2, MinLimit: 1, MaxLimit: 100, Classes: []ClassConfig{{Name: "all"}}})
	if err != nil {
		t.Fatal(err)
	}
	var s Stats
	l.SetFloor(5)
	if l.Stats(&s); s.Limit != 5 || l.OwnLimit() != 2 {
		t.Fatalf("with floor 5: limit %d, own %d; want 5 and 2", s.Limit, l.OwnLimit())
	}
	for range 5 {
		if _, r := l.Acquire(0, 0, time.Time{}); r != ReasonNone {
			t.Fatalf("acquire under the floor's limit: %v", r)
		}
	}
	l.SetFloor(0)
	if l.Stats(&s); s.Limit != 2 {
		t.Fatalf("floor 0: limit %d; want the controller's 2", s.Limit)
	}
}

// TestIdleResetKeepsTheFleetCap: a gateway with nothing in flight admits
// every class again, except those another gateway's ShedBelow still
// caps. Before, a gateway whose few slots all came back in one burst
// reset its level to the top and admitted re-issues while the others shed
// show-code misses.
func TestIdleResetKeepsTheFleetCap(t *testing.T) {
	clk := newFakeClock()
	l, err := New(Config{InitialLimit: 4, MinLimit: 1, MaxLimit: 4, Now: clk.Now, AfterFunc: clk.AfterFunc,
		Classes: []ClassConfig{{Name: "high", MaxQueue: 10, MaxWait: time.Second},
			{Name: "normal", MaxQueue: 10, MaxWait: time.Second}, {Name: "low", MaxQueue: 10, MaxWait: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	l.ShedBelow(1)   // another gateway sheds normal misses
	l.level.Store(0) // and this one's own level has cut deep
	if _, r := l.Acquire(2, 0, time.Time{}); r != ReasonShed {
		t.Fatalf("low, idle, under the fleet's cap: %v; want shed", r)
	}
	tok, r := l.Acquire(1, 1<<63, time.Time{})
	if r != ReasonNone {
		t.Fatalf("normal, idle, under the fleet's cap: %v; want admitted", r)
	}
	tok.Release(time.Millisecond, OutcomeOK)
	clk.Advance(fleetHold + time.Millisecond)
	if _, r := l.Acquire(2, 0, time.Time{}); r != ReasonNone {
		t.Fatalf("low, idle, the cap expired: %v; want admitted", r)
	}
}
