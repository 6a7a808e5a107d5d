package gateway

import (
	"testing"
	"time"
)

// TestFromPeers: the limit floor is limitFloorShare of the mean limit of
// the gateways heard in the last second; the level to hold above is the
// highest level heard in the last levelFresh, from gateways that send one.
func TestFromPeers(t *testing.T) {
	now := time.Now()
	f := &fleet{peers: map[string]peerLimit{
		"a": {limit: 10, level: 150, at: now.Add(-50 * time.Millisecond)},
		"b": {limit: 6, level: 200, at: now.Add(-levelFresh - time.Millisecond)}, // its level is stale
		"c": {limit: 8, level: -1, at: now},                                      // sends no level
		"d": {limit: 99, level: 255, at: now.Add(-2 * time.Second)},              // gone
	}}
	floor, level := f.fromPeers(now)
	share := limitFloorShare // of the mean of a, b and c: b is heard, only its level is stale
	if want := int(share * (10 + 6 + 8) / 3); floor != want || level != 150 {
		t.Fatalf("fromPeers = %d, %d; want %d, 150", floor, level, want)
	}
	if _, ok := f.peers["d"]; ok {
		t.Fatal("a peer silent for 2 s was kept")
	}
	if floor, level := (&fleet{peers: map[string]peerLimit{}}).fromPeers(now); floor != 0 || level != -1 {
		t.Fatalf("no peers: %d, %d; want 0, -1", floor, level)
	}
}
