package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shedgate/internal/proctest"
)

// issuerProc is a running issuer-sim: Addrs[0] serves the API, Addrs[1]
// its admin endpoints. workers is its worker count where a test set it
// (the admission runs read the issuer's queue and busy share by it).
type issuerProc struct {
	*proctest.Proc
	workers int
}

func startIssuer(t *testing.T, args ...string) issuerProc {
	t.Helper()
	return startIssuerOn(t, -1, args...)
}

// startIssuerOn starts the issuer pinned to CPU cpu (taskset), or
// anywhere for cpu < 0.
func startIssuerOn(t *testing.T, cpu int, args ...string) issuerProc {
	t.Helper()
	bin := proctest.Build(t, "shedgate/cmd/issuer-sim")
	args = append([]string{"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0"}, args...)
	return issuerProc{Proc: startOn(t, cpu, bin, args...)}
}

// startOn starts bin pinned to CPU cpu with taskset, which execs it (the
// process is bin itself, its threads all on cpu, and the Go runtime sizes
// GOMAXPROCS to that one CPU), or as is for cpu < 0.
func startOn(t *testing.T, cpu int, bin string, args ...string) *proctest.Proc {
	t.Helper()
	argv := onCPU(t, cpu, append([]string{bin}, args...))
	return proctest.Start(t, argv[0], argv[1:]...)
}

// onCPU returns argv run by taskset on CPU cpu, or argv itself for cpu <
// 0. A test that pins skips where taskset (util-linux) is missing.
func onCPU(t *testing.T, cpu int, argv []string) []string {
	t.Helper()
	if cpu < 0 {
		return argv
	}
	p, err := exec.LookPath("taskset")
	if err != nil {
		t.Skip("taskset not installed")
	}
	return append([]string{p, "-c", strconv.Itoa(cpu)}, argv...)
}

func (p issuerProc) addr() string  { return p.Addrs[0] }
func (p issuerProc) admin() string { return "http://" + p.Addrs[1] }

// issuerStats is the part of the issuer's /stats the tests read.
type issuerStats struct {
	Received    int64 `json:"received"`
	MaxInFlight int64 `json:"max_in_flight"`
	LatencyMs   struct {
		P50, P99, Max float64
	} `json:"latency_ms"`
	Served            int64            `json:"served"`
	Scans             int64            `json:"scans"`
	Duplicates        int64            `json:"duplicates"`
	CodesAgain        int64            `json:"codes_again"`
	InFlight          int64            `json:"in_flight"`
	Ops               map[string]int64 `json:"ops"`
	ErrorsInjected    int64            `json:"errors_injected"`
	AnswersDropped    int64            `json:"answers_dropped"`
	IdempotentReplays int64            `json:"idempotent_replays"`
	BusyMs            float64          `json:"busy_ms"`
	NominalMs         float64          `json:"nominal_ms"`
}

func (p issuerProc) stats(t *testing.T) issuerStats {
	t.Helper()
	var s issuerStats
	getJSON(t, p.admin()+"/stats", &s)
	return s
}

func (p issuerProc) setFaults(t *testing.T, faults string) {
	t.Helper()
	resp, err := http.Post(p.admin()+"/faults", "application/json", strings.NewReader(faults))
	if err != nil {
		t.Fatalf("set faults: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("set faults %s: %d %s", faults, resp.StatusCode, b)
	}
}

// gatewayProc is a running gateway: Addrs[0] the request path, Addrs[1]
// the admin listener.
type gatewayProc struct{ *proctest.Proc }

func (p gatewayProc) url(path string) string   { return "http://" + p.Addrs[0] + path }
func (p gatewayProc) admin(path string) string { return "http://" + p.Addrs[1] + path }

// shippedClasses are the priority classes of configs/gateway.yaml.
const shippedClasses = `
    - {name: critical, max_queue: 2000, max_wait: 1s}
    - {name: high,     max_queue: 2000, max_wait: 500ms}
    - {name: normal,   max_queue: 1000, max_wait: 200ms, bulk: true}
    - {name: low,      max_queue: 200,  max_wait: 100ms, bulk: true}`

// configHead starts a test config: loopback listeners (public on IPv4,
// admin on IPv6) with serverExtra's lines, and one upstream named name
// with targets (the YAML list's items) and upstreamExtra's lines.
func configHead(serverExtra, name, targets, upstreamExtra string) string {
	return fmt.Sprintf("server:\n  listen: \"127.0.0.1:0\"\n  admin_listen: \"[::1]:0\"\n%supstreams:\n  %s:\n    targets: [%s]\n%s",
		asLines(serverExtra), name, targets, asLines(upstreamExtra))
}

// asLines is s ending in a newline, or nothing for "".
func asLines(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// gatewayConfig is a config for one upstream "issuer" at target, with the
// shipped config's routes; server and upstreamExtra are lines added under
// server: and the upstream.
func gatewayConfig(target, server, upstreamExtra string) string {
	return configHead(server, "issuer", strconv.Quote(target), upstreamExtra) + fmt.Sprintf(`limiter:
  classes:%s
routes:
  - {name: code, method: GET, path: "/v1/codes/{id}", upstream: issuer, class: normal, key: "{id}"}
  - {name: reissue, method: POST, path: "/v1/codes/{id}/reissue", upstream: issuer, class: low, key: "{id}"}
  - {name: relative, method: GET, path: "/v1/codes/{id}/relatives/{rid}", upstream: issuer, class: low, key: "{id}:{rid}"}
  - {name: scan, method: POST, path: /v1/scans, upstream: issuer, class: critical}
  - {name: keys, method: GET, path: /v1/keys, upstream: issuer, class: normal}
  - {name: health, method: GET, path: "/v1/health/{id}", upstream: issuer, class: high, key: "{id}"}
  - {name: checkin, method: POST, path: "/v1/venues/{venue}/checkins", upstream: issuer, class: high}
  - {name: passthrough, path: "/*", upstream: issuer, class: normal}
`, shippedClasses)
}

func startGateway(t *testing.T, config string) gatewayProc {
	t.Helper()
	return startGatewayOn(t, -1, config)
}

// startGatewayOn starts a gateway pinned to CPU cpu (see startOn).
func startGatewayOn(t *testing.T, cpu int, config string) gatewayProc {
	t.Helper()
	bin := proctest.Build(t, "shedgate/cmd/gateway")
	path := proctest.WriteFile(t, "gateway.yaml", config)
	p := gatewayProc{startOn(t, cpu, bin, "-config", path)}
	waitReady(t, p.admin("/readyz"))
	return p
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 5s", url)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
}

// do sends one request and returns status, headers and body.
func do(t *testing.T, method, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// loadResult counts a steady load's outcomes and keeps each request's.
type loadResult struct {
	sent, ok, shed, errors, resets atomic.Int64
	firstError                     atomic.Value

	mu      sync.Mutex // guards samples
	samples []loadSample
}

// loadSample is one request: when it was sent (since the load began), how
// long it took, and its status (0: no answer).
type loadSample struct {
	at, took time.Duration
	status   int
}

func (r *loadResult) record(at, took time.Duration, status int) {
	r.mu.Lock()
	r.samples = append(r.samples, loadSample{at, took, status})
	r.mu.Unlock()
}

// failures returns the samples that got no answer or a 5xx other than 503.
func (r *loadResult) failures() []loadSample {
	var out []loadSample
	for _, s := range r.samples {
		if s.status == 0 || (s.status >= 500 && s.status != 503) {
			out = append(out, s)
		}
	}
	return out
}

// p99Between is the p99 latency of the requests sent in [from, to).
func (r *loadResult) p99Between(from, to time.Duration) time.Duration {
	var ds []time.Duration
	for _, s := range r.samples {
		if s.at >= from && s.at < to {
			ds = append(ds, s.took)
		}
	}
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)*99/100]
}

func (r *loadResult) String() string {
	return fmt.Sprintf("sent %d ok %d shed %d errors %d resets %d (first error: %v)",
		r.sent.Load(), r.ok.Load(), r.shed.Load(), r.errors.Load(), r.resets.Load(), r.firstError.Load())
}

// steadyLoad sends rps requests per second for d, open loop (each request
// leaves on schedule whatever the others are doing), and returns when all
// have been answered. next returns the i-th request's method, URL and body.
func steadyLoad(t *testing.T, rps int, d time.Duration, next func(i int) (string, string, string)) *loadResult {
	t.Helper()
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxIdleConns: 512},
		Timeout:   5 * time.Second,
	}
	res := &loadResult{}
	var wg sync.WaitGroup
	start := time.Now()
	total := int(float64(rps) * d.Seconds())
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rps))); wait > 0 {
			time.Sleep(wait)
		}
		method, url, body := next(i)
		wg.Add(1)
		res.sent.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			req, _ := http.NewRequest(method, url, strings.NewReader(body))
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := client.Do(req)
			status := 0
			if err == nil {
				status = resp.StatusCode
			}
			defer func() { res.record(sent.Sub(start), time.Since(sent), status) }()
			if err != nil {
				// A dial that failed never reached a server; a reset or
				// EOF on a connection made was a request lost in flight.
				if !strings.Contains(err.Error(), "dial tcp") &&
					(strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "EOF")) {
					res.resets.Add(1)
				} else {
					res.errors.Add(1)
				}
				res.firstError.CompareAndSwap(nil, err.Error())
				return
			}
			io.Copy(io.Discard, resp.Body) //nolint:errcheck
			resp.Body.Close()
			switch {
			case resp.StatusCode < 300:
				res.ok.Add(1)
			case resp.StatusCode == 429 || resp.StatusCode == 503:
				res.shed.Add(1)
			default:
				res.errors.Add(1)
				res.firstError.CompareAndSwap(nil, fmt.Sprintf("%s %s: status %d", method, url, resp.StatusCode))
			}
		}()
	}
	wg.Wait()
	return res
}
