package cache

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shedgate/internal/fakeclock"
)

func newTestCache(t *testing.T, clock *fakeclock.Clock, path string) *Cache {
	t.Helper()
	c, err := New(Config{MaxBytes: 32 << 20, PersistPath: path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func entryFor(now time.Time, p Policy, cc, body string) *Entry {
	fresh, stale, ok := p.Lifetime(now, []byte(cc), nil)
	if !ok {
		return nil
	}
	e := &Entry{Status: 200, StoredAt: now.UnixNano(), FreshUntil: fresh.UnixNano(), StaleUntil: stale.UnixNano(),
		Body: []byte(body)}
	e.AppendHeader([]byte("Content-Type"), []byte("application/json"))
	e.AppendHeader([]byte("Cache-Control"), []byte(cc))
	return e
}

func TestEntryRoundTrip(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, clock, "")
	in := entryFor(clock.Now(), Policy{}, "max-age=60", `{"code":"v1.a.b"}`)
	c.Set(nil, []byte("code\x00id-1"), in)

	var out Entry
	buf, got := c.Get(nil, []byte("code\x00id-1"), nil, clock.Now(), &out)
	if got != Fresh {
		t.Fatalf("Get: %v; want Fresh", got)
	}
	if out.Status != 200 || string(out.Body) != `{"code":"v1.a.b"}` {
		t.Fatalf("entry: status %d body %q", out.Status, out.Body)
	}
	var hdrs []string
	for k, v, next, ok := out.Header(0); ok; k, v, next, ok = out.Header(next) {
		hdrs = append(hdrs, string(k)+": "+string(v))
	}
	if want := "Content-Type: application/json|Cache-Control: max-age=60"; strings.Join(hdrs, "|") != want {
		t.Fatalf("headers %q; want %q", strings.Join(hdrs, "|"), want)
	}
	if _, got := c.Get(buf, []byte("code\x00id-2"), nil, clock.Now(), &out); got != Miss {
		t.Fatalf("Get of another key: %v; want Miss", got)
	}
}

// TestNeverFreshPastTTLNorStalePastWindow walks an entry through its life
// with an injected clock, one nanosecond either side of each boundary.
func TestNeverFreshPastTTLNorStalePastWindow(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, clock, "")
	key := []byte("code\x00k")
	c.Set(nil, key, entryFor(clock.Now(), Policy{StaleFor: time.Hour}, "max-age=30", "x"))

	f := func(advance time.Duration, want Lookup) {
		t.Helper()
		clock.Advance(advance)
		var e Entry
		if _, got := c.Get(nil, key, nil, clock.Now(), &e); got != want {
			t.Fatalf("at +%v: %v; want %v", clock.Now().Sub(time.Unix(1_700_000_000, 0)), got, want)
		}
	}
	f(30*time.Second-time.Nanosecond, Fresh)
	f(time.Nanosecond, Stale) // exactly at TTL: no longer fresh
	f(time.Hour-time.Nanosecond, Stale)
	f(time.Nanosecond, Miss) // exactly at TTL + stale_for: gone
}

func TestLifetime(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	f := func(p Policy, cc, expires string, wantTTL, wantStale time.Duration, wantOK bool) {
		t.Helper()
		fresh, stale, ok := p.Lifetime(now, []byte(cc), []byte(expires))
		if ok != wantOK {
			t.Fatalf("Lifetime(%+v, %q, %q): ok %v; want %v", p, cc, expires, ok, wantOK)
		}
		if !ok {
			return
		}
		if got := fresh.Sub(now); got != wantTTL {
			t.Fatalf("Lifetime(%+v, %q, %q): ttl %v; want %v", p, cc, expires, got, wantTTL)
		}
		if got := stale.Sub(fresh); got != wantStale {
			t.Fatalf("Lifetime(%+v, %q, %q): stale window %v; want %v", p, cc, expires, got, wantStale)
		}
	}
	day := 24 * time.Hour
	f(Policy{}, "max-age=60", "", time.Minute, 0, true)
	f(Policy{}, "public, max-age=60, s-maxage=10", "", 10*time.Second, 0, true)
	f(Policy{StaleFor: day}, "max-age=2592000", "", 30*day, day, true)
	f(Policy{MaxTTL: time.Hour}, "max-age=2592000", "", time.Hour, 0, true)
	f(Policy{}, "no-store", "", 0, 0, false)
	f(Policy{}, "private, max-age=60", "", 0, 0, false)
	f(Policy{}, "no-cache", "", 0, 0, false)
	// Every line counts: the gateway joins them with commas.
	f(Policy{}, "max-age=60, private", "", 0, 0, false)
	f(Policy{FixedTTL: time.Hour}, "max-age=60,No-Store", "", 0, 0, false)
	f(Policy{}, `private="Set-Cookie", max-age=60`, "", 0, 0, false)
	// Directives that forbid serving stale: the stale window is none.
	f(Policy{StaleFor: day}, "max-age=60, must-revalidate", "", time.Minute, 0, true)
	f(Policy{StaleFor: day}, "max-age=60, proxy-revalidate", "", time.Minute, 0, true)
	f(Policy{StaleFor: day}, "s-maxage=60", "", time.Minute, 0, true)
	f(Policy{}, "", "", 0, 0, false)
	f(Policy{}, "max-age=0", "", 0, 0, false)
	f(Policy{}, "max-age=abc", "", 0, 0, false)
	f(Policy{}, "", now.Add(time.Hour).UTC().Format(http.TimeFormat), time.Hour, 0, true)
	f(Policy{}, "", "0", 0, 0, false)
	f(Policy{FixedTTL: time.Hour}, "", "", time.Hour, 0, true)
	f(Policy{FixedTTL: time.Hour}, "max-age=5", "", time.Hour, 0, true)
	f(Policy{FixedTTL: time.Hour}, "no-store", "", 0, 0, false)
}

func TestOversizeEntrySkippedAndCounted(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, clock, "")
	big := entryFor(clock.Now(), Policy{}, "max-age=60", strings.Repeat("a", 70_000))
	c.Set(nil, []byte("big"), big)
	var e Entry
	if _, got := c.Get(nil, []byte("big"), nil, clock.Now(), &e); got != Miss {
		t.Fatalf("oversize entry: %v; want Miss (skipped)", got)
	}
	var s Stats
	c.UpdateStats(&s)
	if s.Skipped != 1 || s.Stores != 0 {
		t.Fatalf("stats: skipped %d stores %d; want 1 and 0", s.Skipped, s.Stores)
	}
	// Just under the limit is stored whole, not truncated.
	body := strings.Repeat("b", MaxEntryBytes-entryFixedLen-200)
	c.Set(nil, []byte("edge"), entryFor(clock.Now(), Policy{}, "max-age=60", body))
	if _, got := c.Get(nil, []byte("edge"), nil, clock.Now(), &e); got != Fresh || len(e.Body) != len(body) {
		t.Fatalf("edge entry: %v with %d body bytes; want Fresh with %d", got, len(e.Body), len(body))
	}
}

func TestPersistenceSurvivesRestart(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	dir := filepath.Join(t.TempDir(), "cache")
	c := newTestCache(t, clock, dir)
	for i := range 1000 {
		c.Set(nil, []byte{byte(i), byte(i >> 8)}, entryFor(clock.Now(), Policy{}, "max-age=600", "code-"+string(rune('a'+i%26))))
	}
	if err := c.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	clock.Advance(time.Minute)
	c2 := newTestCache(t, clock, dir)
	var s Stats
	c2.UpdateStats(&s)
	if s.Loaded != 1000 {
		t.Fatalf("loaded %d entries; want 1000", s.Loaded)
	}
	var e Entry
	if _, got := c2.Get(nil, []byte{7, 0}, nil, clock.Now(), &e); got != Fresh || !bytes.Equal(e.Body, []byte("code-h")) {
		t.Fatalf("after restart: %v %q; want Fresh code-h", got, e.Body)
	}
	if e.Age(clock.Now()) != time.Minute {
		t.Fatalf("age after restart %v; want 1m", e.Age(clock.Now()))
	}
}

func TestDelInvalidates(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, clock, "")
	c.Set(nil, []byte("k"), entryFor(clock.Now(), Policy{StaleFor: time.Hour}, "max-age=60", "old"))
	c.Del([]byte("k"))
	var e Entry
	if _, got := c.Get(nil, []byte("k"), nil, clock.Now(), &e); got != Miss {
		t.Fatalf("after Del: %v; want Miss (not even stale)", got)
	}
}

func TestGetAllocatesNothing(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	c := newTestCache(t, clock, "")
	key := []byte("code\x00id")
	c.Set(nil, key, entryFor(clock.Now(), Policy{}, "max-age=60", strings.Repeat("x", 300)))
	buf := make([]byte, 0, 1024)
	var e Entry
	allocs := testing.AllocsPerRun(1000, func() {
		var got Lookup
		buf, got = c.Get(buf, key, nil, clock.Now(), &e)
		if got != Fresh {
			t.Fatal("not fresh")
		}
	})
	if allocs != 0 {
		t.Fatalf("Get allocates %v per call; want 0", allocs)
	}
}

func TestShareable(t *testing.T) {
	for cc, want := range map[string]bool{
		"": true, "max-age=60": true, "no-cache": true, "public, max-age=1": true,
		"private": false, "no-store": false, "max-age=60, PRIVATE": false, `private="x"`: false,
	} {
		if got := Shareable([]byte(cc)); got != want {
			t.Errorf("Shareable(%q) = %v; want %v", cc, got, want)
		}
	}
}

// An entry answers only a lookup of the variant it was stored for.
func TestGetMatchesVariant(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{Status: 200, Body: []byte("for host a"), FreshUntil: now.Add(time.Hour).UnixNano(),
		StaleUntil: now.Add(time.Hour).UnixNano(), Variant: []byte("a.example")}
	c.Set(nil, []byte("k"), &e)
	var out Entry
	if _, got := c.Get(nil, []byte("k"), []byte("a.example"), now, &out); got != Fresh || string(out.Body) != "for host a" {
		t.Fatalf("same variant: %v %q; want Fresh", got, out.Body)
	}
	for _, v := range []string{"b.example", "", "a.example?x"} {
		if _, got := c.Get(nil, []byte("k"), []byte(v), now, &out); got != Miss {
			t.Fatalf("variant %q: %v; want Miss", v, got)
		}
	}
}

// FuzzEntryCodec: any bytes either fail to decode or decode into an entry
// whose headers can be walked and which encodes back to the same bytes.
func FuzzEntryCodec(f *testing.F) {
	e := Entry{Status: 200, StoredAt: 1, FreshUntil: 2, StaleUntil: 3, LocalAt: 4, Body: []byte("body"), Variant: []byte("v"), Vary: []byte("accept-language\x00zh")}
	e.AppendHeader([]byte("Content-Type"), []byte("application/json"))
	f.Add(e.marshal(nil))
	f.Add([]byte{})
	f.Add([]byte{entryVersion, 0, 200})
	f.Add(append(e.marshal(nil)[:entryFixedLen], 0xff, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Entry
		if d.unmarshal(b) != nil {
			return
		}
		for _, _, next, ok := d.Header(0); ok; _, _, next, ok = d.Header(next) {
		}
		if again := d.marshal(nil); !bytes.Equal(again, b) {
			t.Fatalf("decode then encode of %x gave %x", b, again)
		}
	})
}
