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
		"a": {limit: 10, level: 150, conns: 40, at: now.Add(-50 * time.Millisecond)},
		"b": {limit: 6, level: 200, conns: 60, at: now.Add(-levelFresh - time.Millisecond)}, // its level is stale
		"c": {limit: 8, level: -1, conns: -1, at: now},                                      // sends no level, no conns
		"d": {limit: 99, level: 255, conns: 500, at: now.Add(-2 * time.Second)},             // gone
	}}
	floor, level, conns, n := f.fromPeers(now)
	share := limitFloorShare // of the mean of a, b and c: b is heard, only its level is stale
	if want := int(share * (10 + 6 + 8) / 3); floor != want || level != 150 || conns != 100 || n != 2 {
		t.Fatalf("fromPeers = %d, %d, %d conns of %d; want %d, 150, 100 of 2", floor, level, conns, n, want)
	}
	if _, ok := f.peers["d"]; ok {
		t.Fatal("a peer silent for 2 s was kept")
	}
	if floor, level, _, _ := (&fleet{peers: map[string]peerLimit{}}).fromPeers(now); floor != 0 || level != -1 {
		t.Fatalf("no peers: %d, %d; want 0, -1", floor, level)
	}
}

// TestRebalanceShare: a gateway above 1.2x the fleet's mean connections
// closes its excess share of them; at or below it, none.
func TestRebalanceShare(t *testing.T) {
	f := func(mine, peers, n int, want int64) {
		t.Helper()
		if got := rebalanceShare(mine, peers, n); got != want {
			t.Fatalf("rebalanceShare(%d, %d, %d) = %d; want %d", mine, peers, n, got, want)
		}
	}
	f(200, 0, 1, 500)  // a new peer with none: hand on half
	f(300, 0, 2, 666)  // two new peers: keep a third
	f(110, 90, 1, 0)   // 1.1x the mean: balanced enough
	f(100, 0, 0, 0)    // no peer reports
	f(0, 100, 1, 0)    // nothing to hand on
	f(150, 50, 1, 333) // mean 100: a third of 150
}

// TestFromFleetMalformed: signals that are not what a gateway sends change
// nothing and never panic (another process may write to the channel).
func TestFromFleetMalformed(t *testing.T) {
	g := &Gateway{fleet: &fleet{peers: map[string]peerLimit{}}}
	for _, msg := range []string{"L", "L ", "L x", "L -3 y z", "Q 1"} {
		g.fromFleet("peer", msg)
	}
	if len(g.fleet.peers) != 0 {
		t.Fatalf("malformed signals recorded peers: %v", g.fleet.peers)
	}
	g.fromFleet("peer", "L 12 3 40")
	if p := g.fleet.peers["peer"]; p.limit != 12 || p.level != 3 || p.conns != 40 {
		t.Fatalf("peer %+v; want limit 12, level 3, 40 connections", p)
	}
}
