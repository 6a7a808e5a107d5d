package gateway_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"shedgate/residentid"
)

// cacheConfig is a full config with the code route cached (codeCache, by
// default the shipped {ttl: upstream, max_ttl: 720h, stale_for: 24h}) and
// coalesced, and reissue invalidating it. extraCache goes under cache:.
func cacheConfig(target, extraCache string, codeCache ...string) string {
	cc := "{ttl: upstream, max_ttl: 720h, stale_for: 24h}"
	if len(codeCache) > 0 {
		cc = codeCache[0]
	}
	return configHead("  drain_timeout: 10s\n  drain_delay: 0s", "issuer", strconv.Quote(target), "    timeout: 5s") + fmt.Sprintf(`limiter:
  classes:
    - {name: normal, max_queue: 1000, max_wait: 200ms}
cache:
  max_bytes: 33554432
%s
routes:
  - name: code
    method: GET
    path: /v1/codes/{id}
    upstream: issuer
    class: normal
    key: "{id}"
    cache: %s
    coalesce: true
    host: ignore                    # as shipped: a restarted gateway on another port keeps its entries
  - name: reissue
    method: POST
    path: /v1/codes/{id}/reissue
    upstream: issuer
    class: normal
    key: "{id}"
    invalidates: [code]
  - {name: passthrough, path: "/*", upstream: issuer, class: normal}
`, extraCache, cc)
}

func makeIDs(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, seed))
	ids := make([]string, n)
	seen := map[string]bool{}
	for i := 0; i < n; {
		birth := time.Date(1950+rng.IntN(60), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC)
		id := residentid.Make(rng, birth)
		if !seen[id] {
			seen[id], ids[i] = true, id
			i++
		}
	}
	return ids
}

// TestThousandConcurrentGetsOneBackendCall: 1,000 concurrent GETs for one
// uncached code cost the issuer exactly one call and get identical answers.
func TestThousandConcurrentGetsOneBackendCall(t *testing.T) {
	const n = 1000
	is := startIssuer(t, "-workers", "4", "-service-time", "1ms", "-latency", "1s")
	gw := startGateway(t, cacheConfig(is.addr(), ""))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: 20 * time.Second}

	var wg sync.WaitGroup
	bodies := make([]string, n)
	statuses := make([]int, n)
	var misses, hits atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(gw.url("/v1/codes/" + seniorID))
			if err != nil {
				t.Errorf("GET %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			var b [4096]byte
			m, _ := resp.Body.Read(b[:])
			statuses[i], bodies[i] = resp.StatusCode, string(b[:m])
			switch resp.Header.Get("X-Cache") {
			case "MISS":
				misses.Add(1)
			case "HIT":
				hits.Add(1)
			}
		}()
	}
	wg.Wait()
	if calls := is.stats(t).Ops["code"]; calls != 1 {
		t.Fatalf("issuer saw %d code requests; want exactly 1", calls)
	}
	for i := range n {
		if statuses[i] != 200 || bodies[i] != bodies[0] {
			t.Fatalf("answer %d: %d %q; want 200 identical to %q", i, statuses[i], bodies[i], bodies[0])
		}
	}
	if misses.Load()+hits.Load() != n {
		t.Fatalf("X-Cache: %d MISS + %d HIT; want every answer to carry one", misses.Load(), hits.Load())
	}
	t.Logf("1000 GETs: %d answered from the one flight (MISS), %d from cache (HIT), 1 backend call", misses.Load(), hits.Load())
}

// TestReissueNeverServesOldCode re-issues 1,000 codes through the gateway
// while other clients keep reading them, and checks that a GET after each
// re-issue returns the new code.
func TestReissueNeverServesOldCode(t *testing.T) {
	const n = 1000
	is := startIssuer(t, "-workers", "32", "-service-time", "1ms")
	gw := startGateway(t, cacheConfig(is.addr(), ""))
	ids := makeIDs(n, 7)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	get := func(method, id, suffix string) (int, codeAnswer) {
		req, _ := http.NewRequest(method, gw.url("/v1/codes/"+id+suffix), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, suffix, err)
			return 0, codeAnswer{}
		}
		defer resp.Body.Close()
		var c codeAnswer
		var b [4096]byte
		m, _ := resp.Body.Read(b[:])
		if resp.StatusCode == 200 {
			c = decodeCode(t, string(b[:m]))
		}
		return resp.StatusCode, c
	}

	// Background readers keep flights and cache fills racing the re-issues.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var cursor atomic.Int64
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
					get("GET", ids[cursor.Load()%n], "")
				}
			}
		}()
	}
	for i, id := range ids {
		cursor.Store(int64(i))
		if s, _ := get("GET", id, ""); s != 200 {
			t.Fatalf("key %d: first GET %d", i, s)
		}
		s, fresh := get("POST", id, "/reissue")
		if s != 200 {
			t.Fatalf("key %d: reissue %d; want 200", i, s)
		}
		if s, after := get("GET", id, ""); s != 200 || after.Code != fresh.Code {
			t.Fatalf("key %d: GET after re-issue returned serial %d; want the new serial %d", i, after.Serial, fresh.Serial)
		}
	}
	close(stop)
	readers.Wait()
}

// TestOutageServesStaleAndFailsFast: with the issuer in full outage, cached
// codes come back STALE and uncached ones get a 503 within 10 ms.
func TestOutageServesStaleAndFailsFast(t *testing.T) {
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	gw := startGateway(t, cacheConfig(is.addr(), "", "{ttl: 300ms, stale_for: 1h}"))
	ids := makeIDs(20, 11)
	codes := map[string]string{}
	for _, id := range ids[:10] {
		s, _, body := do(t, "GET", gw.url("/v1/codes/"+id), "")
		if s != 200 {
			t.Fatalf("warm-up GET: %d", s)
		}
		codes[id] = decodeCode(t, body).Code
	}
	time.Sleep(400 * time.Millisecond) // past the 300ms freshness: only stale copies are left
	is.setFaults(t, `{"outage":true}`)
	for _, id := range ids[:10] {
		s, hdr, body := do(t, "GET", gw.url("/v1/codes/"+id), "")
		if s != 200 || hdr.Get("X-Cache") != "STALE" || decodeCode(t, body).Code != codes[id] {
			t.Fatalf("cached code during outage: %d X-Cache %q; want 200 STALE with the cached code", s, hdr.Get("X-Cache"))
		}
	}
	var worst time.Duration
	for _, id := range ids[10:] {
		start := time.Now()
		s, hdr, body := do(t, "GET", gw.url("/v1/codes/"+id), "")
		if took := time.Since(start); took > worst {
			worst = took
		}
		if s != 503 || hdr.Get("Retry-After") == "" {
			t.Fatalf("uncached code during outage: %d %q; want 503 with Retry-After", s, body)
		}
	}
	// The issuer's timeout is 3 s: failing fast is far below it.
	timing(t, "outage_uncached_503_slowest", worst, 10*time.Millisecond, 500*time.Millisecond)
	t.Logf("uncached during outage: slowest 503 in %v", worst)
}

// TestRestartServesPersistedCodes: after a drain (which saves the cache)
// and a restart with the issuer gone, previously cached codes are served.
func TestRestartServesPersistedCodes(t *testing.T) {
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	dir := t.TempDir() + "/cache"
	cfg := cacheConfig(is.addr(), fmt.Sprintf("  persist_path: %q\n  persist_every: 1h", dir))
	gw := startGateway(t, cfg)
	ids := makeIDs(50, 13)
	codes := map[string]string{}
	for _, id := range ids {
		_, _, body := do(t, "GET", gw.url("/v1/codes/"+id), "")
		codes[id] = decodeCode(t, body).Code
	}
	gw.Signal(syscall.SIGTERM) //nolint:errcheck
	if code := gw.Wait(15 * time.Second); code != 0 {
		t.Fatalf("gateway exit %d; stderr:\n%s", code, gw.Stderr())
	}
	is.Kill()

	gw2 := startGateway(t, cfg)
	for _, id := range ids {
		s, hdr, body := do(t, "GET", gw2.url("/v1/codes/"+id), "")
		if s != 200 || hdr.Get("X-Cache") != "HIT" || decodeCode(t, body).Code != codes[id] {
			t.Fatalf("after restart without issuer: %d X-Cache %q; want 200 HIT with the same code", s, hdr.Get("X-Cache"))
		}
	}
}

// TestInvalidationBeatsFlightInProgress scripts the race a re-issue can
// lose: a GET's backend call starts before the re-issue and answers, with
// the old code, after it. Neither a request arriving while that call is
// still out nor one arriving after it may see the old code.
func TestInvalidationBeatsFlightInProgress(t *testing.T) {
	var serial atomic.Int32
	serial.Store(1)
	holdFirstGet := make(chan struct{})
	firstGetIn := make(chan struct{})
	var gets atomic.Int32
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		if r.Method == "POST" {
			n := serial.Add(1)
			fmt.Fprintf(w, `{"code":"code-%d","serial":%d}`, n, n)
			return
		}
		n := serial.Load()
		if gets.Add(1) == 1 {
			close(firstGetIn)
			<-holdFirstGet // answer the old code after the re-issue
		}
		fmt.Fprintf(w, `{"code":"code-%d","serial":%d}`, n, n)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go backend.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { backend.Close() })
	gw := startGateway(t, cacheConfig(ln.Addr().String(), ""))
	url := gw.url("/v1/codes/" + seniorID)

	first := make(chan string, 1)
	go func() { _, _, body := do(t, "GET", url, ""); first <- body }()
	<-firstGetIn
	if s, _, body := do(t, "POST", url+"/reissue", ""); s != 200 || decodeCode(t, body).Serial != 2 {
		t.Fatalf("reissue: %d %q; want 200 serial 2", s, body)
	}
	// The old call is still out: a new GET must not join it.
	if _, _, body := do(t, "GET", url, ""); decodeCode(t, body).Serial != 2 {
		t.Fatalf("GET during the old call: %q; want serial 2", body)
	}
	close(holdFirstGet)
	if body := <-first; decodeCode(t, body).Serial != 1 {
		t.Fatalf("the GET sent before the re-issue: %q; want the code of its time, serial 1", body)
	}
	// The old call has answered: its code must not have been stored.
	for range 3 {
		if _, hdr, body := do(t, "GET", url, ""); decodeCode(t, body).Serial != 2 {
			t.Fatalf("GET after the old call ended: %q (X-Cache %s); want serial 2", body, hdr.Get("X-Cache"))
		}
	}
}
