package issuer

import (
	"math"
	"sync"
	"testing"
	"time"

	"shedgate/internal/wait"
)

func TestServiceTime(t *testing.T) {
	f := func(base time.Duration, growth float64, queued, workers int, extra, want time.Duration) {
		t.Helper()
		if got := serviceTime(base, growth, queued, workers, extra); got != want {
			t.Errorf("serviceTime(%v, %v, %d, %d, %v): got %v; want %v", base, growth, queued, workers, extra, got, want)
		}
	}
	f(20*time.Millisecond, 10, 0, 20, 0, 20*time.Millisecond)
	f(20*time.Millisecond, 10, 200, 20, 0, 40*time.Millisecond) // 10× workers queued doubles it
	f(20*time.Millisecond, 10, 100, 20, 5*time.Millisecond, 35*time.Millisecond)
	f(20*time.Millisecond, math.Inf(1), 1000, 20, 0, 20*time.Millisecond)
	f(-1, 10, 1000, 20, 0, 0)
	f(-1, 10, 1000, 20, time.Millisecond, time.Millisecond)
	f(time.Second, 0.001, 1<<40, 1, 0, maxServiceTime)
}

// concurrently sends n GET /v1/keys at once and returns the time all took.
func concurrently(t *testing.T, ti *testIssuer, n int) time.Duration {
	t.Helper()
	var wg sync.WaitGroup
	statuses := make([]int, n)
	errs := make([]error, n)
	ready := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-ready
			statuses[i], _, _, errs[i] = tryHTTP(ti.client, "GET", "http://"+ti.addr+"/v1/keys", "")
		})
	}
	start := time.Now()
	close(ready)
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("request %d: got %d, %v; want 200", i, s, errs[i])
		}
	}
	return time.Since(start)
}

func TestCapacityModel(t *testing.T) {
	ti := startIssuer(t, Config{Workers: 2, ServiceTime: 20 * time.Millisecond})
	concurrently(t, ti, 20) // opens the 20 connections, so that the next round arrives at once
	ti.ResetStats()
	took := concurrently(t, ti, 20)
	// 10 rounds of 20ms, longer while the queue is long.
	if took < 180*time.Millisecond || took > 5*time.Second {
		t.Errorf("20 requests on 2 workers × 20ms: got %v; want about 200-300ms", took)
	}
	st := ti.stats(t)
	if st.MaxInFlight != 20 || st.Served != 20 || st.Received != 20 || st.InFlight != 0 || st.Queued != 0 {
		t.Errorf("stats: got max_in_flight %d served %d received %d in_flight %d queued %d; want 20 20 20 0 0",
			st.MaxInFlight, st.Served, st.Received, st.InFlight, st.Queued)
	}
	if st.LatencyMs.Max < 180 || st.LatencyMs.P50 < 20 || st.LatencyMs.P50 > st.LatencyMs.P99 || st.LatencyMs.P99 > st.LatencyMs.Max {
		t.Errorf("latency_ms: got %+v; want 20 <= p50 <= p99 <= max, max >= 180", st.LatencyMs)
	}
	// 20 jobs of at least 20ms, at most 20ms × (1 + 19/20) with the queue
	// they found; held at least that long, and no longer than 2 workers'
	// wall time.
	if st.NominalMs < 400 || st.NominalMs > 780 || st.BusyMs < st.NominalMs || st.BusyMs > 2*float64(took.Milliseconds())+1 {
		t.Errorf("busy_ms %.1f nominal_ms %.1f over %v on 2 workers; want 400 <= nominal <= 780 and nominal <= busy <= 2 × wall",
			st.BusyMs, st.NominalMs, took)
	}
	if status, body := ti.admin(t, "POST", "/stats/reset", ""); status != 200 {
		t.Fatalf("POST /stats/reset: got %d %s; want 200", status, body)
	}
	st = ti.stats(t)
	if st.BusyMs != 0 || st.NominalMs != 0 {
		t.Errorf("after reset: busy_ms %v nominal_ms %v; want 0", st.BusyMs, st.NominalMs)
	}
	if st.MaxInFlight != 0 || st.Served != 0 || st.Ops["keys"] != 0 || st.LatencyMs.Max != 0 {
		t.Errorf("stats after reset: got %+v; want zeroes", st)
	}
}

func TestWorkersChangeAtRunTime(t *testing.T) {
	ti := startIssuer(t, Config{Workers: 1, ServiceTime: 30 * time.Millisecond, Growth: math.Inf(1)})
	var took time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		took = concurrently(t, ti, 8)
	}()
	wait.For(t, 5*time.Second, "a queue", func() bool { return ti.stats(t).Queued >= 4 })
	if status, body := ti.admin(t, "POST", "/faults", `{"workers":8}`); status != 200 {
		t.Fatalf("POST /faults workers 8: got %d %s; want 200", status, body)
	}
	<-done
	// On one worker the 8 requests would take 240ms; more workers drain the queue sooner.
	if took > 220*time.Millisecond {
		t.Logf("8 requests with workers raised from 1 to 8: took %v (a loaded machine?)", took)
	}
	st := ti.stats(t)
	if st.Workers != 8 || st.Faults.Workers != 8 || st.Served != 8 {
		t.Errorf("after raising workers: got workers %d, faults.workers %d, served %d; want 8 8 8", st.Workers, st.Faults.Workers, st.Served)
	}
	if err := ti.setWorkers(2); err != nil {
		t.Fatal(err)
	}
	if took := concurrently(t, ti, 6); took < 85*time.Millisecond {
		t.Errorf("6 requests on 2 workers × 30ms: got %v; want >= 90ms", took)
	}
	if got := ti.stats(t).Workers; got != 2 {
		t.Errorf("workers after lowering: got %d; want 2", got)
	}
	if err := ti.setWorkers(0); err == nil {
		t.Errorf("setWorkers(0): got nil; want an error")
	}
}

func TestWorkerPoolKeepsQueueWhenShrinking(t *testing.T) {
	p := newWorkerPool(4, func(int, int) time.Duration { return time.Millisecond })
	defer p.close()
	jobs := make([]*job, 50)
	for i := range jobs {
		jobs[i] = &job{done: make(chan struct{})}
		if !p.submit(jobs[i]) {
			t.Fatal("submit: got false; want true")
		}
		if i == 10 {
			p.setWorkers(1)
		}
		if i == 30 {
			p.setWorkers(3)
		}
	}
	for i, j := range jobs {
		select {
		case <-j.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("job %d never done", i)
		}
	}
	wait.For(t, 5*time.Second, "surplus workers to exit", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.running == 3
	})
}
