package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// accessEntry is the part of an access log line the tests read.
type accessEntry struct {
	Msg           string  `json:"msg"`
	Client        string  `json:"client"`
	Route         string  `json:"route"`
	Class         string  `json:"class"`
	Status        int     `json:"status"`
	XCache        string  `json:"x_cache"`
	Upstream      string  `json:"upstream"`
	Queue         float64 `json:"queue"`
	UpstreamTime  float64 `json:"upstream_time"`
	BytesOut      int     `json:"bytes_out"`
	TraceID       string  `json:"trace_id"`
	LeaderTraceID string  `json:"leader_trace_id"`
}

func accessEntries(t *testing.T, stderr string) []accessEntry {
	t.Helper()
	var out []accessEntry
	for _, line := range strings.Split(stderr, "\n") {
		var e accessEntry
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "access" {
			out = append(out, e)
		}
	}
	return out
}

func traceparent(i int) (header, id string) {
	id = fmt.Sprintf("%032x", 0xabc000+i)
	return "00-" + id + "-00f067aa0ba902b7-01", id
}

// TestAccessLogFields sends a miss, a hit and a coalesced burst, each with
// its own W3C traceparent, through a gateway that logs every request, and
// reads its access log: client, class, cache state, the upstream target
// with the admission wait and round trip on a miss, each request's own
// trace id, and each coalesced waiter's leader's; never the identity key.
func TestAccessLogFields(t *testing.T) {
	is := startIssuer(t, "-workers", "4", "-service-time", "1ms", "-latency", "200ms")
	cfg := strings.Replace(cacheConfig(is.addr(), ""), "  drain_timeout: 10s\n",
		"  drain_timeout: 10s\n  access_log: {per_second: 100000, one_in: 1}\n", 1)
	gw := startGateway(t, cfg)
	tp, missTrace := traceparent(1)
	do(t, "GET", gw.url("/v1/codes/"+adultID), "", "traceparent", tp)
	tp, hitTrace := traceparent(2)
	do(t, "GET", gw.url("/v1/codes/"+adultID), "", "traceparent", tp)
	burstID := makeIDs(1, 99)[0]
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, _ := traceparent(100 + i)
			req, _ := http.NewRequest("GET", gw.url("/v1/codes/"+burstID), nil)
			req.Header.Set("traceparent", h)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	var entries []accessEntry
	for deadline := time.Now().Add(3 * time.Second); len(entries) < 22 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		entries = accessEntries(t, gw.Stderr())
	}
	if len(entries) != 22 {
		t.Fatalf("%d access entries; want 22:\n%s", len(entries), gw.Stderr())
	}
	byTrace := map[string]accessEntry{}
	for _, e := range entries {
		byTrace[e.TraceID] = e
		if e.Client != "127.0.0.1" || e.Class != "normal" || e.Route != "code" || e.Status != 200 || e.BytesOut == 0 {
			t.Errorf("entry %+v: want client 127.0.0.1, class normal, route code, 200, bytes_out > 0", e)
		}
	}
	miss, hit := byTrace[missTrace], byTrace[hitTrace]
	if miss.XCache != "MISS" || miss.Upstream != is.addr() || miss.UpstreamTime < 0.2 || miss.LeaderTraceID != "" {
		t.Errorf("miss: %+v; want MISS from %s taking >= 200ms, no leader", miss, is.addr())
	}
	if hit.XCache != "HIT" || hit.Upstream != "" || hit.UpstreamTime != 0 {
		t.Errorf("hit: %+v; want HIT, no upstream", hit)
	}
	leaders, waiters := map[string]bool{}, 0
	for i := range 20 {
		_, id := traceparent(100 + i)
		e, ok := byTrace[id]
		switch {
		case !ok:
			t.Errorf("no entry with trace id %s", id)
		case e.LeaderTraceID != "":
			waiters++
			leaders[e.LeaderTraceID] = true
			if e.LeaderTraceID == id || e.Upstream != is.addr() {
				t.Errorf("waiter %+v: want another request's trace id as leader, and its upstream", e)
			}
		}
	}
	for l := range leaders {
		if byTrace[l].LeaderTraceID != "" {
			t.Errorf("leader %s is itself a waiter", l)
		}
	}
	if waiters < 15 {
		t.Errorf("%d of 20 coalesced waiters logged a leader's trace id; want >= 15", waiters)
	}
	if strings.Contains(gw.Stderr(), adultID) || strings.Contains(gw.Stderr(), burstID) {
		t.Errorf("an identity key appears in clear in the logs")
	}
}

// TestAccessLogSampling: per_second 3 and one_in 0 log 3 of 50 requests
// sent within a second.
func TestAccessLogSampling(t *testing.T) {
	is := startIssuer(t, "-workers", "4", "-service-time", "1ms")
	cfg := strings.Replace(cacheConfig(is.addr(), ""), "  drain_timeout: 10s\n",
		"  drain_timeout: 10s\n  access_log: {per_second: 3, one_in: 0}\n", 1)
	gw := startGateway(t, cfg)
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) // the start of a second
	for range 50 {
		do(t, "GET", gw.url("/v1/codes/"+adultID), "")
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(accessEntries(t, gw.Stderr())); n != 3 {
		t.Fatalf("%d access entries; want 3", n)
	}
}
