package fakeclock

import (
	"slices"
	"testing"
	"time"
)

func TestFakeClockFiresInOrder(t *testing.T) {
	c := New(time.Date(2022, 4, 9, 8, 0, 0, 0, time.UTC))
	var got []int
	c.AfterFunc(30*time.Millisecond, func() { got = append(got, 3) })
	c.AfterFunc(10*time.Millisecond, func() { got = append(got, 1) })
	stopped := c.AfterFunc(20*time.Millisecond, func() { got = append(got, 2) })
	if !stopped.Stop() {
		t.Fatalf("Stop of an active timer: got false; want true")
	}
	c.Advance(25 * time.Millisecond)
	if want := []int{1}; !slices.Equal(got, want) {
		t.Fatalf("after 25ms: got %v; want %v", got, want)
	}
	c.Advance(10 * time.Millisecond)
	if want := []int{1, 3}; !slices.Equal(got, want) {
		t.Fatalf("after 35ms: got %v; want %v", got, want)
	}
	if stopped.Stop() {
		t.Fatalf("Stop of a stopped timer: got true; want false")
	}
}
