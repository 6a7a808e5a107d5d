package gateway_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"shedgate/internal/proctest"
)

// TestRevokedCodeStaysRevokedAfterKill: a code saved in a snapshot, then
// re-issued (the old code revoked), then kill -9 before any save: the
// restarted gateway must not answer the revoked code.
func TestRevokedCodeStaysRevokedAfterKill(t *testing.T) {
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	dir := filepath.Join(t.TempDir(), "cache")
	cfg := cacheConfig(is.addr(), fmt.Sprintf("  persist_path: %q\n  persist_every: 1h", dir))
	gw := startGateway(t, cfg)
	_, _, body := do(t, "GET", gw.url("/v1/codes/"+adultID), "")
	if s := decodeCode(t, body).Serial; s != 1 {
		t.Fatalf("first code: serial %d; want 1", s)
	}
	gw.Signal(syscall.SIGTERM) //nolint:errcheck // the drain saves the snapshot
	if code := gw.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, gw.Stderr())
	}
	gw2 := startGateway(t, cfg)
	if _, hdr, body := do(t, "GET", gw2.url("/v1/codes/"+adultID), ""); hdr.Get("X-Cache") != "HIT" || decodeCode(t, body).Serial != 1 {
		t.Fatalf("after restart: X-Cache %q serial %d; want HIT 1 from the snapshot", hdr.Get("X-Cache"), decodeCode(t, body).Serial)
	}
	if s, _, body := do(t, "POST", gw2.url("/v1/codes/"+adultID+"/reissue"), ""); s != 200 || decodeCode(t, body).Serial != 2 {
		t.Fatalf("re-issue: %d serial %d; want 200 2", s, decodeCode(t, body).Serial)
	}
	gw2.Signal(syscall.SIGKILL) //nolint:errcheck
	gw2.Wait(5 * time.Second)
	gw3 := startGateway(t, cfg)
	_, hdr, body := do(t, "GET", gw3.url("/v1/codes/"+adultID), "")
	if decodeCode(t, body).Serial != 2 {
		t.Fatalf("after kill -9 and restart: serial %d (X-Cache %q); want 2: serial 1 was revoked", decodeCode(t, body).Serial, hdr.Get("X-Cache"))
	}
	if v := metricValue(getText(t, gw3.admin("/metrics")), "gateway_cache_replayed_deletions"); v != 1 {
		t.Errorf("gateway_cache_replayed_deletions = %v; want 1", v)
	}
}

// TestKilledDuringSavesStartsEveryTime kills the gateway (-9) at random
// moments while it saves its cache every 50 ms, ten times: each restart
// starts, loads a snapshot once one was complete, and leaves no debris of
// the killed saves.
func TestKilledDuringSavesStartsEveryTime(t *testing.T) {
	is := startIssuer(t, "-workers", "16", "-service-time", "1ms")
	dir := filepath.Join(t.TempDir(), "cache")
	cfg := cacheConfig(is.addr(), fmt.Sprintf("  persist_path: %q\n  persist_every: 50ms", dir))
	ids := makeIDs(300, 5)
	rng := rand.New(rand.NewPCG(1, 1))
	saved := false
	for round := range 10 {
		gw := startGateway(t, cfg)
		m := getText(t, gw.admin("/metrics"))
		loaded := metricValue(m, "gateway_cache_loaded_entries")
		if saved && loaded <= 0 {
			t.Fatalf("round %d: loaded %v entries; want the last complete snapshot's", round, loaded)
		}
		if v := metricValue(m, "gateway_cache_snapshot_set_aside"); v != 0 {
			t.Fatalf("round %d: a snapshot was set aside:\n%s", round, gw.Stderr())
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), "tmp") {
				t.Fatalf("round %d: %s left after start", round, e.Name())
			}
		}
		for _, id := range ids[round*30 : round*30+30] {
			do(t, "GET", gw.url("/v1/codes/"+id), "")
		}
		time.Sleep(time.Duration(60+rng.IntN(140)) * time.Millisecond)
		saved = true
		gw.Signal(syscall.SIGKILL) //nolint:errcheck
		gw.Wait(5 * time.Second)
	}
}

// TestDamagedSnapshotStartsCold: a truncated snapshot file makes the
// gateway start with an empty cache (set aside, counted, logged), not
// exit.
func TestDamagedSnapshotStartsCold(t *testing.T) {
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	dir := filepath.Join(t.TempDir(), "cache")
	cfg := cacheConfig(is.addr(), fmt.Sprintf("  persist_path: %q\n  persist_every: 1h", dir))
	gw := startGateway(t, cfg)
	do(t, "GET", gw.url("/v1/codes/"+adultID), "")
	gw.Signal(syscall.SIGTERM) //nolint:errcheck
	if code := gw.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, gw.Stderr())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "snap-*", "data.*.bin"))
	if len(files) == 0 {
		t.Fatalf("no snapshot data files in %s", dir)
	}
	os.Truncate(files[0], 10) //nolint:errcheck
	gw2 := startGateway(t, cfg)
	if v := metricValue(getText(t, gw2.admin("/metrics")), "gateway_cache_snapshot_set_aside"); v != 1 {
		t.Fatalf("gateway_cache_snapshot_set_aside = %v; want 1", v)
	}
	if s, hdr, _ := do(t, "GET", gw2.url("/v1/codes/"+adultID), ""); s != 200 || hdr.Get("X-Cache") != "MISS" {
		t.Fatalf("after a cold start: %d X-Cache %q; want 200 MISS", s, hdr.Get("X-Cache"))
	}
	if !strings.Contains(gw2.Stderr(), "cache snapshot unreadable") {
		t.Fatalf("no warning logged:\n%s", gw2.Stderr())
	}
}

// TestRevokedCodeStaysRevokedInAFleet: gateway B saved a code in its
// snapshot and was down while the code was re-issued through gateway A;
// restarted from that snapshot more than local_ttl later (the fleet's
// documented bound on serving an invalidation it could not hear), B must
// not answer the revoked code. And a re-issue through A that B heard, then
// kill -9 of B: the same.
func TestRevokedCodeStaysRevokedInAFleet(t *testing.T) {
	r := proctest.StartRedis(t)
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	dirB := filepath.Join(t.TempDir(), "b")
	cfgA := fleetConfig(is.addr(), r.Addr)
	cfgB := cacheConfig(is.addr(), sharedCache(r.Addr)+fmt.Sprintf("\n    local_ttl: 100ms\n  persist_path: %q\n  persist_every: 1h", dirB))
	a := startGateway(t, cfgA)
	serial := func(gw gatewayProc, id string) (int, string) {
		_, hdr, body := do(t, "GET", gw.url("/v1/codes/"+id), "")
		return decodeCode(t, body).Serial, hdr.Get("X-Cache")
	}
	reissue := func(id string) {
		if s, _, _ := do(t, "POST", a.url("/v1/codes/"+id+"/reissue"), ""); s != 200 {
			t.Fatalf("re-issue: %d", s)
		}
	}
	ids := makeIDs(2, 31)
	b := startGateway(t, cfgB)
	for _, id := range ids {
		serial(b, id)
	}
	b.Signal(syscall.SIGTERM) //nolint:errcheck // saves serial 1 of both
	if code := b.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, b.Stderr())
	}
	reissue(ids[0]) // B is down: it misses the invalidation
	time.Sleep(200 * time.Millisecond)
	b2 := startGateway(t, cfgB)
	if s, xc := serial(b2, ids[0]); s != 2 {
		t.Fatalf("restarted B after a re-issue it missed: serial %d (X-Cache %s); want 2", s, xc)
	}
	serial(b2, ids[1])
	reissue(ids[1]) // B hears it
	time.Sleep(100 * time.Millisecond)
	b2.Signal(syscall.SIGKILL) //nolint:errcheck
	b2.Wait(5 * time.Second)
	b3 := startGateway(t, cfgB)
	if s, xc := serial(b3, ids[1]); s != 2 {
		t.Fatalf("B killed after hearing a re-issue, restarted: serial %d (X-Cache %s); want 2", s, xc)
	}
}
