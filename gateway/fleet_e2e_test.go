package gateway_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shedgate/internal/proctest"
	"shedgate/internal/wait"
)

// The fleet tests run several gateway processes in front of one issuer,
// sharing a real redis-server started on a free loopback port.

// sharedCache is the cache.shared section for redis, indented under cache:.
func sharedCache(redis string) string {
	return fmt.Sprintf("  shared:\n    redis: [%q]", redis)
}

// fleetConfig is cacheConfig (one class; codes cached, coalesced and
// invalidated by a re-issue) with the shared cache on redis.
func fleetConfig(target, redis string) string { return cacheConfig(target, sharedCache(redis)) }

// fleetSurgeConfig is admissionConfig with the shared cache on redis and
// the public listener on listen with reuse_port, so that several gateways
// share it; listen "": a port of its own.
func fleetSurgeConfig(target, redis, listen string) string {
	cfg := admissionConfig(target) + "cache:\n" + sharedCache(redis) + "\n"
	if listen == "" {
		return cfg
	}
	return strings.Replace(cfg, `  listen: "127.0.0.1:0"`, fmt.Sprintf("  listen: %q\n  reuse_port: true", listen), 1)
}

// fleetStatus is the part of a gateway's /status the fleet tests read.
type fleetStatus struct {
	Cache struct {
		Hits, Misses uint64
	} `json:"cache"`
	SharedCache *struct {
		Subscribed            bool   `json:"subscribed"`
		Hits                  uint64 `json:"hits"`
		Errors                uint64 `json:"errors"`
		Unavailable           uint64 `json:"unavailable"`
		InvalidationsReceived uint64 `json:"invalidations_received"`
		Untrusted             uint64 `json:"untrusted"`
	} `json:"shared_cache"`
}

func (p gatewayProc) fleet(t *testing.T) fleetStatus {
	t.Helper()
	var s fleetStatus
	getJSON(t, p.admin("/status"), &s)
	if s.SharedCache == nil {
		t.Fatalf("%s: /status has no shared_cache", p.admin("/status"))
	}
	return s
}

// startFleet starts n gateways on the shared cache and waits until each
// hears invalidations.
func startFleet(t *testing.T, n int, target, redis string) []gatewayProc {
	t.Helper()
	var gws []gatewayProc
	for range n {
		gws = append(gws, startGateway(t, fleetConfig(target, redis)))
	}
	waitSubscribed(t, gws)
	return gws
}

func waitSubscribed(t *testing.T, gws []gatewayProc) {
	t.Helper()
	wait.For(t, 10*time.Second, "every gateway subscribed to invalidations", func() bool {
		for _, g := range gws {
			if !g.fleet(t).SharedCache.Subscribed {
				return false
			}
		}
		return true
	})
}

// TestFleetSharesFetchedAnswers: a code fetched through A is a cache hit
// for B, without a backend call.
func TestFleetSharesFetchedAnswers(t *testing.T) {
	r := proctest.StartRedis(t)
	is := startIssuer(t, "-workers", "16", "-service-time", "1ms")
	gws := startFleet(t, 2, is.addr(), r.Addr)
	a, b := gws[0], gws[1]
	id := makeIDs(1, 21)[0]

	status, hdr, body := do(t, "GET", a.url("/v1/codes/"+id), "")
	if status != 200 || hdr.Get("X-Cache") != "MISS" {
		t.Fatalf("first GET through A: %d X-Cache %q", status, hdr.Get("X-Cache"))
	}
	calls := is.stats(t).Ops["code"]
	status, hdr, got := do(t, "GET", b.url("/v1/codes/"+id), "")
	if status != 200 || hdr.Get("X-Cache") != "HIT-SHARED" || got != body {
		t.Fatalf("GET through B: %d X-Cache %q body %q; want 200 HIT-SHARED with A's body %q", status, hdr.Get("X-Cache"), got, body)
	}
	_, hdr, _ = do(t, "GET", b.url("/v1/codes/"+id), "")
	if hdr.Get("X-Cache") != "HIT" {
		t.Fatalf("second GET through B: X-Cache %q; want HIT from B's own cache", hdr.Get("X-Cache"))
	}
	if after := is.stats(t).Ops["code"]; after != calls {
		t.Fatalf("the issuer answered %d code requests after A's fetch; want 0", after-calls)
	}
	if s := b.fleet(t); s.SharedCache.Hits != 1 {
		t.Fatalf("B's shared_cache.hits = %d; want 1", s.SharedCache.Hits)
	}
}

// TestFleetRecheckAfterQueueing: coalescing is per gateway, but a miss
// that waited for an admission slot asks Redis again before calling the
// backend. B's one slot is held by a slow request; B's miss of a code A
// is fetching queues behind it, finds A's answer in Redis once admitted,
// and gives the slot back: one issuer call for the code, not two.
func TestFleetRecheckAfterQueueing(t *testing.T) {
	r := proctest.StartRedis(t)
	is := startIssuer(t, "-workers", "16", "-service-time", "1ms", "-latency", "600ms")
	a := startGateway(t, fleetConfig(is.addr(), r.Addr))
	bCfg := strings.Replace(fleetConfig(is.addr(), r.Addr), "limiter:\n",
		"limiter:\n  initial_limit: 1\n  min_limit: 1\n  max_limit: 1\n", 1)
	b := startGateway(t, strings.Replace(bCfg, "max_wait: 200ms", "max_wait: 2s", 1))
	waitSubscribed(t, []gatewayProc{a, b})
	ids := makeIDs(2, 23)
	var wg sync.WaitGroup
	got := make([]http.Header, 3)
	get := func(i int, g gatewayProc, id string, after time.Duration) {
		defer wg.Done()
		time.Sleep(after)
		status, hdr, _ := do(t, "GET", g.url("/v1/codes/"+id), "")
		if status != 200 {
			t.Errorf("request %d: %d; want 200", i, status)
		}
		got[i] = hdr
	}
	wg.Add(3)
	// Margins of 200-300 ms each way: a loaded CI machine once made A's
	// fetch land after B's second look when they were 100 ms.
	go get(0, a, ids[0], 0)                    // A fetches the code: its answer reaches Redis at ~600 ms
	go get(1, b, ids[1], 200*time.Millisecond) // holds B's only slot until ~800 ms
	go get(2, b, ids[0], 300*time.Millisecond) // misses Redis, queues, admitted at ~800 ms
	wg.Wait()
	if t.Failed() {
		return
	}
	if x := got[2].Get("X-Cache"); x != "HIT-SHARED" {
		t.Fatalf("B's queued miss: X-Cache %q; want HIT-SHARED (found by the second look)", x)
	}
	if n := is.stats(t).Ops["code"]; n != 2 {
		t.Fatalf("the issuer answered %d code requests; want 2 (A's fetch and B's slow one)", n)
	}
	var st struct {
		SharedCache struct {
			RecheckHits uint64 `json:"recheck_hits"`
		} `json:"shared_cache"`
	}
	getJSON(t, b.admin("/status"), &st)
	if st.SharedCache.RecheckHits != 1 || metricValue(getText(t, b.admin("/metrics")), "gateway_shared_cache_recheck_hits_total") != 1 {
		t.Fatalf("B's recheck hits: /status %d; want 1 in /status and /metrics", st.SharedCache.RecheckHits)
	}
}

// TestFleetReissueReachesEveryGateway: over 1,000 keys, a re-issue
// through A, then GETs through B and C until they answer the new code,
// while readers race on every gateway. The new code must come within
// 100 ms p99 of the re-issue's answer, and the old one never after it.
func TestFleetReissueReachesEveryGateway(t *testing.T) {
	r := proctest.StartRedis(t)
	is := startIssuer(t, "-workers", "64", "-service-time", "1ms")
	gws := startFleet(t, 3, is.addr(), r.Addr)
	ids := makeIDs(1000, 22)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 5 * time.Second}
	get := func(g gatewayProc, path string) (int, string) {
		resp, err := client.Get(g.url(path))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err.Error()
		}
		return resp.StatusCode, string(b)
	}

	// Every gateway holds every code.
	parallel(16, len(ids), func(i int) {
		for _, g := range gws {
			if status, body := get(g, "/v1/codes/"+ids[i]); status != 200 {
				t.Errorf("warm-up GET %d: %d %s", i, status, body)
			}
		}
	})

	// Readers race on random keys through every gateway meanwhile.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var raced, racedBad atomic.Int64
	for w := range 6 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
				select {
				case <-stop:
					return
				default:
				}
				if status, _ := get(gws[rng.IntN(3)], "/v1/codes/"+ids[rng.IntN(len(ids))]); status != 200 {
					racedBad.Add(1)
				}
				raced.Add(1)
			}
		}()
	}

	var mu sync.Mutex
	var lags []time.Duration
	var flips atomic.Int64
	parallel(8, len(ids), func(i int) {
		req, _ := http.NewRequest("POST", gws[0].url("/v1/codes/"+ids[i]+"/reissue"), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("re-issue %d: %v", i, err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fresh := string(b)
		answered := time.Now()
		if resp.StatusCode != 200 {
			t.Errorf("re-issue %d through A: %d %s", i, resp.StatusCode, fresh)
			return
		}
		for _, g := range gws[1:] {
			for {
				status, body := get(g, "/v1/codes/"+ids[i])
				if status == 200 && body == fresh {
					mu.Lock()
					lags = append(lags, time.Since(answered))
					mu.Unlock()
					break
				}
				if time.Since(answered) > 5*time.Second {
					t.Errorf("key %d: %s still answers %d %q 5s after the re-issue", i, g.url(""), status, body)
					break
				}
			}
			if _, body := get(g, "/v1/codes/"+ids[i]); body != fresh {
				flips.Add(1)
			}
		}
	})
	close(stop)
	readers.Wait()

	slices.Sort(lags)
	if len(lags) == 0 {
		t.Fatal("no re-issue was seen through B or C")
	}
	p99 := lags[len(lags)*99/100]
	t.Logf("%d re-issues seen through B and C: lag p50 %v p99 %v max %v; racing readers %d requests, %d not 200",
		len(lags), lags[len(lags)/2], p99, lags[len(lags)-1], raced.Load(), racedBad.Load())
	if len(lags) != 2*len(ids) {
		t.Errorf("%d of %d re-issues seen", len(lags), 2*len(ids))
	}
	if p99 > 100*time.Millisecond {
		t.Errorf("new code through B and C p99 %v after the re-issue's answer; want <= 100ms", p99)
	}
	if flips.Load() > 0 {
		t.Errorf("%d times the old code came back after the new one was served", flips.Load())
	}
	if racedBad.Load() > 0 {
		t.Errorf("%d racing reads were not 200", racedBad.Load())
	}
}

// TestFleetServesThroughRedisDeath: redis-server killed mid-run at 2,000
// req/s through three gateways: no client error, answers from the local
// caches and the backend; restarted, sharing resumes.
func TestFleetServesThroughRedisDeath(t *testing.T) {
	r := proctest.StartRedis(t)
	is := startIssuer(t, "-workers", "64", "-service-time", "1ms")
	gws := startFleet(t, 3, is.addr(), r.Addr)
	ids := makeIDs(400, 23)

	// Down for longer than local_ttl (2s): the gateways then refetch the
	// entries from before, from the backend, with Redis unreachable.
	killAt, restartAt := 1500*time.Millisecond, 5*time.Second
	go func() {
		time.Sleep(killAt)
		r.Kill()
		time.Sleep(restartAt - killAt)
		r.Restart()
	}()
	res := steadyLoad(t, 2000, 7*time.Second, func(i int) (string, string, string) {
		return "GET", gws[i%3].url("/v1/codes/" + ids[(i*7)%len(ids)]), ""
	})
	t.Logf("load: %s", res)
	if res.ok.Load() != res.sent.Load() {
		t.Errorf("with Redis killed and restarted mid-run: %s; want every request answered 200", res)
	}
	var down uint64
	for _, g := range gws {
		s := g.fleet(t).SharedCache
		down += s.Errors + s.Unavailable
	}
	if down == 0 {
		t.Error("no gateway saw Redis fail: the kill did not happen during the load")
	}

	// Sharing resumes: a key fetched through A is soon a shared hit for B
	// (the first calls on the new connections may still fail).
	waitSubscribed(t, gws)
	fresh := makeIDs(50, 24)
	n := 0
	wait.For(t, 10*time.Second, "a key fetched through A after the restart is HIT-SHARED through B", func() bool {
		id := fresh[n%len(fresh)]
		n++
		do(t, "GET", gws[0].url("/v1/codes/"+id), "")
		_, hdr, _ := do(t, "GET", gws[1].url("/v1/codes/"+id), "")
		return hdr.Get("X-Cache") == "HIT-SHARED"
	})
}

// parallel runs f(0..n-1) on workers goroutines.
func parallel(workers, n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// freePort returns a loopback address nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startFleetOnPort starts n gateways sharing one port (reuse_port) and
// the cache in redis; it returns them and the shared address.
func startFleetOnPort(t *testing.T, n int, target, redis string) ([]gatewayProc, string) {
	t.Helper()
	addr := freePort(t)
	var gws []gatewayProc
	for range n {
		gws = append(gws, startGateway(t, fleetSurgeConfig(target, redis, addr)))
	}
	waitSubscribed(t, gws)
	return gws, addr
}

// hitRatio is the share of lookups on cached routes answered from a cache
// (a gateway's own or the fleet's), over the gateways.
func hitRatio(t *testing.T, gws []gatewayProc) float64 {
	t.Helper()
	var hits, lookups float64
	for _, g := range gws {
		var s fleetStatus
		getJSON(t, g.admin("/status"), &s)
		hits += float64(s.Cache.Hits)
		lookups += float64(s.Cache.Hits + s.Cache.Misses)
		if s.SharedCache != nil {
			hits += float64(s.SharedCache.Hits)
		}
	}
	return hits / max(lookups, 1)
}

// TestFleetSurge: three gateways sharing the cache in Redis,
// in front of the lockstep issuer at 10x (the admission benchmark's first
// mix, patient clients), against one gateway alone in the same run: the
// issuer's queue stays bounded, the priority order holds, and the fleet's
// hit ratio is the single gateway's. make test holds it to loose bounds;
// make bench prints the figures against the targets.
func TestFleetSurge(t *testing.T) {
	bench := os.Getenv("SHEDGATE_BENCH") != ""
	scenario := admScenario(t, admMixes[0], admClients["patient"])

	is1 := lockstepIssuer(t)
	one := startGateway(t, admissionConfig(is1.addr()))
	single := runSurge(t, is1, scenario, "http://"+one.Addrs[0], []gatewayProc{one})
	singleRatio := hitRatio(t, []gatewayProc{one})
	one.Kill()

	r := proctest.StartRedis(t)
	is := lockstepIssuer(t)
	// Each gateway on a port of its own, the generator sending to each in
	// turn (loadtest's spread), as a balancer in front of many clients
	// would. Sharing one port, the generator's one pool of connections
	// sent more to whichever gateway answered faster, that is shed more:
	// in a traced run the gateway shedding the most got 46% of class
	// normal's arrivals with as many slots as the others, and the fleet's
	// hit ratio was 0.80-0.95x one gateway's in sixteen runs (median 0.92;
	// 0.91-0.97x, median 0.94, in fifteen with the arrivals spread, the
	// same code).
	var gws []gatewayProc
	var urls []string
	for range 3 {
		g := startGateway(t, fleetSurgeConfig(is.addr(), r.Addr, ""))
		gws, urls = append(gws, g), append(urls, "http://"+g.Addrs[0])
	}
	waitSubscribed(t, gws)
	target := strings.Join(urls, ",")
	fleet := runSurge(t, is, scenario, target, gws)
	fleetRatio := hitRatio(t, gws)
	var shared uint64
	for i, g := range gws {
		shared += g.fleet(t).SharedCache.Hits
		m := getText(t, g.admin("/metrics"))
		t.Logf("gateway %d: signals sent %.0f, received %.0f", i,
			metricValue(m, "gateway_fleet_signals_sent_total"), metricValue(m, "gateway_fleet_signals_received_total"))
	}
	t.Logf("hit ratio: one gateway %.3f, three sharing Redis %.3f (%d answers from Redis)", singleRatio, fleetRatio, shared)
	// A code the issuer had issued before is a fetch a cache could have
	// answered: the fleet's include a key fetched by two gateways at once.
	t.Logf("issuer's codes asked for again (of its code requests): one gateway %d of %d, three %d of %d",
		single.st.CodesAgain, single.st.Ops["code"], fleet.st.CodesAgain, fleet.st.Ops["code"])

	name := "3 gateways sharing Redis, patient, " + admMixes[0].name
	c := fleet.rep.Classes
	if bench {
		admFigures(t, name, fleet, admResult{})
		figure(t, name+": hit ratio fleet / one gateway", fleetRatio/singleRatio, "x", ">= 1", fleetRatio >= singleRatio)
		return
	}
	if fleet.queue > 3*admWorkers {
		t.Errorf("issuer queue reached %d with three gateways; want <= 3x its %d workers", fleet.queue, admWorkers)
	}
	if c["scan"].Success < 0.99 || c["checkin"].Success < 0.5 || c["checkin"].Success < c["issue"].Success+0.3 {
		t.Errorf("three gateways: success scan %.4f, checkin %.4f, issue %.4f; want the top classes served (>= 0.99, >= 0.5 and well above normal's)",
			c["scan"].Success, c["checkin"].Success, c["issue"].Success)
	}
	if c["reissue"].Success > c["issue"].Success+0.02 {
		t.Errorf("three gateways: low class success %.3f above normal's %.3f", c["reissue"].Success, c["issue"].Success)
	}
	// Loose: Redis shares every fetch and the fleet's count of a key's
	// misses ranks its fetch: the fleet's ratio was 0.95-1.00x the single
	// gateway's in eight bench runs of the code now, 0.80-0.95x on one
	// port before a free slot waited for 16 arrivals, 0.96-1.06x before
	// free slots went first to the next demand rank, 0.72-1.06x before a
	// queued miss looked again, 0.55x at worst before the gateways held
	// their limits near each other's. make bench prints the figure
	// against the target of 1.
	if fleetRatio < 0.4*singleRatio || shared == 0 {
		t.Errorf("hit ratio of the fleet %.3f (%d from Redis), one gateway %.3f; want it shared and near", fleetRatio, shared, singleRatio)
	}
}

// TestBenchFleetCacheHit: cache-hit throughput of three gateways sharing
// one port and Redis against one gateway, with the same generator, three
// rounds alternating. On two cores the three share the cores the one has,
// so the figure says what the fleet costs, not what it scales to.
func TestBenchFleetCacheHit(t *testing.T) {
	benchOnly(t)
	r := proctest.StartRedis(t)
	is := startIssuer(t, "-workers", "32", "-service-time", "1ms")
	one := startGateway(t, fleetConfig(is.addr(), r.Addr))
	oneURL := "http://" + one.Addrs[0]
	is2 := startIssuer(t, "-workers", "32", "-service-time", "1ms")
	r2 := proctest.StartRedis(t)
	_, addr := startFleetOnPort(t, 3, is2.addr(), r2.Addr)
	fleetURL := "http://" + addr
	for range 2 { // every key cached, in Redis and (mostly) in each gateway
		runLoadtest(t, codeScenario(t, "sequential", 1000, time.Second), oneURL, oneURL)
		runLoadtest(t, codeScenario(t, "sequential", 1000, time.Second), fleetURL, fleetURL)
	}
	const offered = 150000
	pipelined := []string{"-pipeline", "32", "-connections", "9"}
	var ratios, oneRates, fleetRates []float64
	for range 3 {
		o := runLoadtestArgs(t, codeScenario(t, "uniform", offered, 4*time.Second), oneURL, oneURL, pipelined...)
		f := runLoadtestArgs(t, codeScenario(t, "uniform", offered, 4*time.Second), fleetURL, fleetURL, pipelined...)
		oneRates, fleetRates = append(oneRates, o.All.GoodputRPS), append(fleetRates, f.All.GoodputRPS)
		ratios = append(ratios, f.All.GoodputRPS/o.All.GoodputRPS)
	}
	figure(t, "cache hits, one gateway (median of 3)", median(oneRates), "/s", "", true)
	figure(t, "cache hits, 3 gateways on one port + Redis", median(fleetRates), "/s", "", true)
	figure(t, "cache-hit throughput fleet / one gateway", median(ratios), "x", "2 cores shared", true)
}

// metricValue reads one unlabelled sample from a /metrics text.
func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f) //nolint:errcheck
			return f
		}
	}
	return -1
}

// TestFleetRebalancesConnections: 100 clients on keep-alive connections
// to one gateway; a second joins the fleet on the same port (reuse_port).
// Clients never reconnect by themselves, so without help the newcomer
// would get none of them; the busier gateway closes a share of its
// connections after their answers, and the kernel spreads the reconnects.
func TestFleetRebalancesConnections(t *testing.T) {
	r := proctest.StartRedis(t)
	is := startIssuer(t, "-workers", "16", "-service-time", "1ms")
	listen := freePort(t)
	cfg := strings.Replace(fleetConfig(is.addr(), r.Addr), `  listen: "127.0.0.1:0"`,
		fmt.Sprintf("  listen: %q\n  reuse_port: true", listen), 1)
	a := startGateway(t, cfg)
	ids := makeIDs(100, 61)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100, MaxConnsPerHost: 100}, Timeout: 2 * time.Second}
	stop := time.Now().Add(8 * time.Second)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if resp, err := client.Get("http://" + listen + "/v1/codes/" + ids[i]); err == nil {
					io.Copy(io.Discard, resp.Body) //nolint:errcheck
					resp.Body.Close()
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	b := startGateway(t, cfg)
	joined := time.Now()
	type conns struct {
		Connections struct {
			Open       int
			Rebalanced uint64
		}
	}
	// The kernel hands each reconnect to either gateway, so the share
	// converges by chance: in a CI run the newcomer held 22 of 96 after
	// 3 s, 74 still on the first (it closes down to 1.2x the mean, 60).
	// Poll up to 6 s; without rebalancing it holds none.
	var sa, sb conns
	for {
		time.Sleep(250 * time.Millisecond)
		getJSON(t, a.admin("/status"), &sa)
		getJSON(t, b.admin("/status"), &sb)
		total := sa.Connections.Open + sb.Connections.Open
		if sb.Connections.Open >= total/4 || time.Since(joined) > 6*time.Second {
			break
		}
	}
	took := time.Since(joined)
	wg.Wait()
	t.Logf("%.2f s after the second gateway joined: %d and %d connections open (the first closed %d to rebalance)",
		took.Seconds(), sa.Connections.Open, sb.Connections.Open, sa.Connections.Rebalanced)
	if total := sa.Connections.Open + sb.Connections.Open; sb.Connections.Open < total/4 {
		t.Fatalf("the gateway that joined holds %d of %d connections after 6 s; want at least a quarter", sb.Connections.Open, total)
	}
}
