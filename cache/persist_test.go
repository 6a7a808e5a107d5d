package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shedgate/internal/fakeclock"
)

func fill(t *testing.T, c *Cache, clock *fakeclock.Clock, n int, body string) {
	t.Helper()
	for i := range n {
		c.Set(nil, []byte{byte(i), byte(i >> 8)}, entryFor(clock.Now(), Policy{}, "max-age=600", body))
	}
}

func lookup(c *Cache, clock *fakeclock.Clock, key []byte) (Lookup, string) {
	var e Entry
	_, got := c.Get(nil, key, nil, clock.Now(), &e)
	return got, string(e.Body)
}

// A key deleted after the last save stays deleted after a crash (no save
// since) and a restart: the journal replays the deletion.
func TestRestartKeepsDeletions(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	dir := filepath.Join(t.TempDir(), "cache")
	c := newTestCache(t, clock, dir)
	fill(t, c, clock, 10, "serial-1")
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c.Del([]byte{3, 0}) // re-issued: serial 1 is revoked
	c2 := newTestCache(t, clock, dir)
	if got, body := lookup(c2, clock, []byte{3, 0}); got != Miss {
		t.Fatalf("deleted key after restart: %v %q; want Miss", got, body)
	}
	if got, _ := lookup(c2, clock, []byte{4, 0}); got != Fresh {
		t.Fatalf("other key after restart: %v; want Fresh", got)
	}
	// A save covers the deletion; the journal then starts over, and a key
	// stored again after it is not deleted by an old journal entry.
	c2.Set(nil, []byte{3, 0}, entryFor(clock.Now(), Policy{}, "max-age=600", "serial-2"))
	if err := c2.Save(); err != nil {
		t.Fatal(err)
	}
	c3 := newTestCache(t, clock, dir)
	if got, body := lookup(c3, clock, []byte{3, 0}); got != Fresh || body != "serial-2" {
		t.Fatalf("re-stored key after a save and restart: %v %q; want Fresh serial-2", got, body)
	}
	var s Stats
	c3.UpdateStats(&s)
	if s.Replayed != 0 || s.Loaded != 10 {
		t.Fatalf("replayed %d, loaded %d; want 0 (the save covered the journal), 10", s.Replayed, s.Loaded)
	}
}

// What a save killed at each step leaves behind: fastcache's temporary
// directory, a snapshot without sums, the journal not yet cut. Each start
// loads the last complete snapshot, applies the journal and removes the
// debris.
func TestSaveKilledAtEveryStep(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	dir := filepath.Join(t.TempDir(), "cache")
	c := newTestCache(t, clock, dir)
	fill(t, c, clock, 100, "v")
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c.Del([]byte{1, 0})
	// Killed inside fastcache's save, then between its rename and the sums.
	os.MkdirAll(filepath.Join(dir, "fastcache.tmp.12345"), 0o755)                     //nolint:errcheck
	os.WriteFile(filepath.Join(dir, "fastcache.tmp.12345", "data.0.bin"), nil, 0o644) //nolint:errcheck
	if err := c.fc.SaveToFileConcurrent(snapDir(dir, 7), 1); err != nil {
		t.Fatal(err)
	}
	c2 := newTestCache(t, clock, dir)
	var s Stats
	c2.UpdateStats(&s)
	if s.Loaded != 99 || s.Replayed != 1 {
		t.Fatalf("loaded %d, replayed %d; want 99 (the complete snapshot less the journaled deletion), 1", s.Loaded, s.Replayed)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "journal snap-1" {
		t.Fatalf("after start the directory holds %v; want the journal and snap-1 only", names)
	}
	// Killed after the sums, before the journal was cut: the newest
	// snapshot loads, and the whole journal is applied again (harmless).
	c2.Del([]byte{2, 0})
	if err := c2.save(2); err != nil {
		t.Fatal(err)
	}
	c2.Del([]byte{5, 0})
	c3 := newTestCache(t, clock, dir)
	for _, k := range []byte{1, 2, 5} {
		if got, _ := lookup(c3, clock, []byte{k, 0}); got != Miss {
			t.Fatalf("key %d after the restart: %v; want Miss", k, got)
		}
	}
	if got, _ := lookup(c3, clock, []byte{6, 0}); got != Fresh {
		t.Fatalf("key 6: %v; want Fresh", got)
	}
}

// A snapshot that cannot be read is set aside, and the cache starts empty
// and works; the next save and start are normal again.
func TestDamagedSnapshotsAreSetAside(t *testing.T) {
	damage := map[string]func(snap string){
		"truncated data": func(snap string) {
			p := filepath.Join(snap, "data.0.bin")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644) //nolint:errcheck
		},
		"no metadata": func(snap string) { os.Remove(filepath.Join(snap, "metadata.bin")) }, //nolint:errcheck
		"a flipped byte": func(snap string) {
			p := filepath.Join(snap, "data.0.bin")
			b, _ := os.ReadFile(p)
			b[len(b)/3] ^= 0x40
			os.WriteFile(p, b, 0o644) //nolint:errcheck
		},
		"another max_bytes": nil,
	}
	for name, hurt := range damage {
		t.Run(name, func(t *testing.T) {
			clock := fakeclock.New(time.Unix(1_700_000_000, 0))
			dir := filepath.Join(t.TempDir(), "cache")
			c := newTestCache(t, clock, dir)
			fill(t, c, clock, 2000, strings.Repeat("x", 100))
			if err := c.Save(); err != nil {
				t.Fatal(err)
			}
			maxBytes := 32 << 20
			if hurt != nil {
				hurt(snapDir(dir, 1))
			} else {
				maxBytes = 64 << 20
			}
			c2, err := New(Config{MaxBytes: maxBytes, PersistPath: dir})
			if err != nil {
				t.Fatalf("New: %v; want a cold start", err)
			}
			var s Stats
			c2.UpdateStats(&s)
			if c2.LoadProblem() == nil || s.SetAside != 1 || s.Entries != 0 {
				t.Fatalf("problem %v, set aside %d, entries %d; want a problem, 1, 0", c2.LoadProblem(), s.SetAside, s.Entries)
			}
			t.Logf("%s: %v", name, c2.LoadProblem())
			if m, _ := filepath.Glob(filepath.Join(dir, "set-aside-*")); len(m) != 1 {
				t.Fatalf("set-aside directories %v; want 1", m)
			}
			c2.Set(nil, []byte("k"), entryFor(clock.Now(), Policy{}, "max-age=600", "again"))
			if err := c2.Save(); err != nil {
				t.Fatal(err)
			}
			c3, err := New(Config{MaxBytes: maxBytes, PersistPath: dir})
			if err != nil || c3.LoadProblem() != nil {
				t.Fatalf("after a new save: %v, %v", err, c3.LoadProblem())
			}
			if got, body := lookup(c3, clock, []byte("k")); got != Fresh || !bytes.Equal([]byte(body), []byte("again")) {
				t.Fatalf("after a new save: %v %q", got, body)
			}
		})
	}
}

// A directory in the earlier layout (fastcache's files at the top) loads
// once; unreadable (here: written for another max_bytes), its files are
// set aside and the directory stays usable.
func TestEarlierLayout(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	for _, damaged := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "cache")
		old := newTestCache(t, clock, "")
		fill(t, old, clock, 50, "v")
		if err := old.fc.SaveToFileConcurrent(dir, 1); err != nil {
			t.Fatal(err)
		}
		maxBytes := 32 << 20
		if damaged {
			maxBytes = 64 << 20
		}
		c, err := New(Config{MaxBytes: maxBytes, PersistPath: dir})
		if err != nil {
			t.Fatalf("damaged %v: New: %v", damaged, err)
		}
		var s Stats
		c.UpdateStats(&s)
		if damaged != (c.LoadProblem() != nil) || !damaged && s.Loaded != 50 {
			t.Fatalf("damaged %v: problem %v, loaded %d", damaged, c.LoadProblem(), s.Loaded)
		}
		if err := c.Save(); err != nil {
			t.Fatalf("damaged %v: Save: %v", damaged, err)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "data.*.bin")); len(m) != 0 {
			t.Fatalf("damaged %v: the earlier layout's files are still at the top after a save: %v", damaged, m)
		}
	}
}
