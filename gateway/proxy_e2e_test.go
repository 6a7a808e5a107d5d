package gateway_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"shedgate/internal/wait"
)

const (
	adultID  = "310104199001011233" // born 1990: relatives need review
	childID  = "110105201003071239" // born 2010: eligible for a relative's code
	seniorID = "11010519491231002X" // born 1949
)

type codeAnswer struct {
	ID     string `json:"id"`
	Code   string `json:"code"`
	Serial int    `json:"serial"`
}

func decodeCode(t *testing.T, body string) codeAnswer {
	t.Helper()
	var c codeAnswer
	if err := json.Unmarshal([]byte(body), &c); err != nil || c.Code == "" {
		t.Fatalf("not a code answer: %q (%v)", body, err)
	}
	return c
}

// TestProxiesEveryOperation drives each DOMAIN.md operation through a real
// gateway in front of a real issuer-sim.
func TestProxiesEveryOperation(t *testing.T) {
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "", ""))

	status, hdr, body := do(t, "GET", gw.url("/v1/codes/"+seniorID), "")
	if status != 200 {
		t.Fatalf("issue: status %d; want 200 (%s)", status, body)
	}
	first := decodeCode(t, body)
	if !strings.HasPrefix(hdr.Get("Cache-Control"), "max-age=") {
		t.Fatalf("issue: Cache-Control %q; want max-age=...", hdr.Get("Cache-Control"))
	}
	if hdr.Get("X-Request-Id") == "" {
		t.Fatalf("issue: no X-Request-Id on the answer")
	}
	_, _, body = do(t, "GET", gw.url("/v1/codes/"+seniorID), "")
	if again := decodeCode(t, body); again.Code != first.Code {
		t.Fatalf("fetch again: code changed from %q to %q", first.Code, again.Code)
	}

	// The code verifies offline with the key the issuer publishes.
	status, _, body = do(t, "GET", gw.url("/v1/keys"), "")
	var keys struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(body), &keys); status != 200 || err != nil {
		t.Fatalf("keys: %d %q %v", status, body, err)
	}
	verifyCode(t, keys.PublicKey, first.Code)

	status, _, body = do(t, "POST", gw.url("/v1/codes/"+seniorID+"/reissue"), "")
	if status != 200 {
		t.Fatalf("reissue: status %d; want 200 (%s)", status, body)
	}
	second := decodeCode(t, body)
	if second.Code == first.Code || second.Serial != first.Serial+1 {
		t.Fatalf("reissue: got serial %d code %q; want serial %d and a new code", second.Serial, second.Code, first.Serial+1)
	}
	status, _, body = do(t, "POST", gw.url("/v1/codes/"+seniorID+"/reissue"), "")
	if status != 409 || !strings.Contains(body, "already re-issued today") {
		t.Fatalf("second reissue: %d %q; want 409 already re-issued today", status, body)
	}

	scan := func(code, sample string) int {
		b := fmt.Sprintf(`{"code":%q,"site":"site-1","sample_id":%q}`, code, sample)
		status, _, _ := do(t, "POST", gw.url("/v1/scans"), b)
		return status
	}
	if s := scan(second.Code, "s-1"); s != 200 {
		t.Fatalf("scan current code: status %d; want 200", s)
	}
	if s := scan(first.Code, "s-2"); s != 403 {
		t.Fatalf("scan replaced code: status %d; want 403", s)
	}

	if status, _, body = do(t, "GET", gw.url("/v1/codes/"+adultID+"/relatives/"+childID), ""); status != 200 {
		t.Fatalf("relative (child): %d %q; want 200", status, body)
	}
	decodeCode(t, body)
	if status, _, body = do(t, "GET", gw.url("/v1/codes/"+childID+"/relatives/"+adultID), ""); status != 202 {
		t.Fatalf("relative (adult): %d %q; want 202 pending review", status, body)
	}

	status, hdr, body = do(t, "GET", gw.url("/v1/health/"+adultID), "")
	if status != 200 || !strings.Contains(body, `"status"`) || hdr.Get("Cache-Control") == "" {
		t.Fatalf("health: %d %q %q; want 200 with a status and max-age", status, body, hdr.Get("Cache-Control"))
	}
	status, _, body = do(t, "POST", gw.url("/v1/venues/library-7/checkins"), fmt.Sprintf(`{"id":%q}`, adultID))
	if status != 200 || !strings.Contains(body, "unveiled_until") {
		t.Fatalf("checkin: %d %q; want 200 with unveiled_until", status, body)
	}

	bad := "310104199013011233" // month 13
	status, _, body = do(t, "GET", gw.url("/v1/codes/"+bad), "")
	if status != 400 || !strings.Contains(body, `"error"`) || strings.Contains(body, bad) {
		t.Fatalf("malformed id: %d %q; want 400 JSON error without the id", status, body)
	}
	if status, _, _ = do(t, "GET", gw.url("/no/such/thing"), ""); status != 404 {
		t.Fatalf("passthrough to unknown path: %d; want the issuer's 404", status)
	}

	st := is.stats(t)
	if st.Scans != 1 || st.Duplicates != 0 {
		t.Fatalf("issuer counted %d scans, %d duplicates; want 1 and 0", st.Scans, st.Duplicates)
	}
}

func verifyCode(t *testing.T, publicKey, code string) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		t.Fatalf("public key %q: %v", publicKey, err)
	}
	parts := strings.Split(code, ".")
	if len(parts) != 3 {
		t.Fatalf("code %q: want v1.payload.signature", code)
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil {
		t.Fatalf("code %q: bad base64: %v %v", code, err1, err2)
	}
	if !ed25519.Verify(key, payload, sig) {
		t.Fatalf("code %q does not verify with the published key", code)
	}
}

// TestHopByHopHeadersStripped checks both directions against a backend
// that records what it received and answers with hop-by-hop headers.
func TestHopByHopHeadersStripped(t *testing.T) {
	got := make(chan http.Header, 1)
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Header().Set("Connection", "X-Backend-Hop")
		w.Header().Set("X-Backend-Hop", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("Upgrade", "h2c")
		w.Header().Set("X-End-To-End", "kept")
		w.Write([]byte("ok")) //nolint:errcheck
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go backend.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { backend.Close() })
	gw := startGateway(t, gatewayConfig(ln.Addr().String(), "", ""))

	status, hdr, body := do(t, "GET", gw.url("/anything"), "",
		"Connection", "X-Client-Hop",
		"X-Client-Hop", "secret",
		"Keep-Alive", "timeout=5",
		"Proxy-Authorization", "Basic Zm9vOmJhcg==",
		"Proxy-Foo", "bar",
		"Te", "trailers",
		"Upgrade", "websocket",
		"X-Forwarded-For", "203.0.113.7",
		"X-Request-Id", "req-123",
		"X-Forwarded-Host", "evil.example",
		"X-End-To-End", "kept",
	)
	if status != 200 || body != "ok" {
		t.Fatalf("status %d body %q; want 200 ok", status, body)
	}
	in := <-got
	for _, h := range []string{"X-Client-Hop", "Keep-Alive", "Proxy-Authorization", "Proxy-Foo", "Te", "Upgrade"} {
		if v := in.Get(h); v != "" {
			t.Errorf("backend received %s: %q; want it stripped", h, v)
		}
	}
	if v := in.Get("X-End-To-End"); v != "kept" {
		t.Errorf("backend X-End-To-End %q; want kept", v)
	}
	// The client is no trusted proxy: its X-Forwarded-For and X-Request-Id
	// are not believed.
	if v := in.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("backend X-Forwarded-For %q; want the peer only, 127.0.0.1", v)
	}
	if v := in.Get("X-Forwarded-Host"); v != "" {
		t.Errorf("backend X-Forwarded-Host %q; want an untrusted client's dropped", v)
	}
	if v := in.Get("X-Request-Id"); v == "req-123" || len(v) != 32 {
		t.Errorf("backend X-Request-Id %q; want a new 32-hex-digit id, not the client's", v)
	}
	for _, h := range []string{"X-Backend-Hop", "Keep-Alive", "Proxy-Authenticate", "Upgrade"} {
		if v := hdr.Get(h); v != "" {
			t.Errorf("client received %s: %q; want it stripped", h, v)
		}
	}
	if v := hdr.Get("X-End-To-End"); v != "kept" {
		t.Errorf("client X-End-To-End %q; want kept", v)
	}
	if v := hdr.Get("X-Request-Id"); v != in.Get("X-Request-Id") {
		t.Errorf("client X-Request-Id %q; want the one the backend saw, %q", v, in.Get("X-Request-Id"))
	}

	// Behind a trusted proxy, both are kept and the chain grows.
	trusting := startGateway(t, gatewayConfig(ln.Addr().String(), `  trusted_proxies: ["127.0.0.0/8", "::1"]`, ""))
	do(t, "GET", trusting.url("/anything"), "", "X-Forwarded-For", "203.0.113.7", "X-Request-Id", "req-123")
	in = <-got
	if v := in.Get("X-Forwarded-For"); v != "203.0.113.7, 127.0.0.1" {
		t.Errorf("trusted: backend X-Forwarded-For %q; want %q", v, "203.0.113.7, 127.0.0.1")
	}
	if v := in.Get("X-Request-Id"); v != "req-123" {
		t.Errorf("trusted: backend X-Request-Id %q; want the proxy's req-123", v)
	}

	// Without one, the gateway generates a request id and passes it on.
	_, hdr, _ = do(t, "GET", gw.url("/anything"), "")
	in = <-got
	if id := in.Get("X-Request-Id"); id == "" || id != hdr.Get("X-Request-Id") {
		t.Errorf("generated X-Request-Id: backend %q, client %q; want the same non-empty id", id, hdr.Get("X-Request-Id"))
	}
	if v := in.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("backend X-Forwarded-For %q; want 127.0.0.1", v)
	}
}

// TestOversizeInput checks the header and body limits answer 431 and 413.
func TestOversizeInput(t *testing.T) {
	is := startIssuer(t, "-service-time", "1ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "  max_header_bytes: 4096\n  max_body_bytes: 1024", ""))

	for range 20 { // the answer must survive the unread rest of the request every time
		status, _, body := do(t, "GET", gw.url("/v1/keys"), "", "X-Big", strings.Repeat("a", 8192))
		if status != 431 || !strings.Contains(body, `"error"`) {
			t.Fatalf("oversize header: %d %q; want 431 with a JSON error", status, body)
		}
	}
	status, _, body := do(t, "POST", gw.url("/v1/scans"), `{"code":"`+strings.Repeat("a", 200_000)+`"}`)
	if status != 413 || !strings.Contains(body, `"limit_bytes":1024`) {
		t.Fatalf("oversize body: %d %q; want 413 naming the limit", status, body)
	}
	if status, _, _ = do(t, "GET", gw.url("/v1/keys"), ""); status != 200 {
		t.Fatalf("normal request after oversize ones: %d; want 200", status)
	}
	if st := is.stats(t); st.Ops["scan"] != 0 {
		t.Fatalf("issuer saw %d scans; want 0: an oversize body must not reach it", st.Ops["scan"])
	}
}

// TestUpstreamFailuresMapped checks 504 for a hung issuer (within the
// upstream timeout), 502 for one that answers garbage and 503 with
// Retry-After for a dead one.
func TestUpstreamFailuresMapped(t *testing.T) {
	is := startIssuer(t, "-service-time", "1ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "", "    timeout: 300ms"))

	is.setFaults(t, `{"hang":true}`)
	start := time.Now()
	status, _, body := do(t, "GET", gw.url("/v1/keys"), "")
	took := time.Since(start)
	if status != 504 || !strings.Contains(body, `"error"`) {
		t.Fatalf("hung issuer: %d %q; want 504 with a JSON error", status, body)
	}
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("hung issuer answered after %v; want about the 300ms timeout", took)
	}
	is.setFaults(t, `{"hang":false}`)

	is.Signal(syscall.SIGKILL) //nolint:errcheck
	is.Wait(5 * time.Second)
	status, hdr, body := do(t, "GET", gw.url("/v1/keys"), "")
	if status != 503 || !strings.Contains(body, `"error"`) || hdr.Get("Retry-After") == "" {
		t.Fatalf("dead issuer: %d %q Retry-After %q; want 503 with a JSON error and Retry-After", status, body, hdr.Get("Retry-After"))
	}
}

// TestDrainLosesNothing sends SIGTERM while 200 slow scans are in flight:
// every one gets its 200, the issuer registered exactly that many, and the
// gateway exits 0.
func TestDrainLosesNothing(t *testing.T) {
	const n = 200
	is := startIssuer(t, "-workers", "400", "-service-time", "1ms", "-latency", "1500ms")
	// The adaptive limit starts above n so that all n are in flight at once.
	cfg := strings.Replace(gatewayConfig(is.addr(), "  drain_timeout: 20s\n  drain_delay: 0s", "    timeout: 10s"),
		"limiter:\n", "limiter:\n  initial_limit: 400\n  min_limit: 200\n", 1) // admission out of the way: 200 at once
	gw := startGateway(t, cfg)

	_, _, body := do(t, "GET", gw.url("/v1/codes/"+adultID), "")
	code := decodeCode(t, body).Code

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: 30 * time.Second}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := fmt.Sprintf(`{"code":%q,"site":"drain","sample_id":"d-%d"}`, code, i)
			resp, err := client.Post(gw.url("/v1/scans"), "application/json", strings.NewReader(b))
			if err != nil {
				t.Errorf("scan %d: %v", i, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wait.For(t, 5*time.Second, "200 scans in flight at the issuer", func() bool { return is.stats(t).InFlight >= n })
	if err := gw.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", gw.Addrs[0], time.Second); err == nil {
		c.Close()
		t.Errorf("gateway still accepts connections while draining")
	}
	wg.Wait()
	if code := gw.Wait(10 * time.Second); code != 0 {
		t.Fatalf("gateway exit code %d after drain; want 0; stderr:\n%s", code, gw.Stderr())
	}
	ok := 0
	for _, s := range statuses {
		if s == 200 {
			ok++
		}
	}
	st := is.stats(t)
	if ok != n || st.Scans != n || st.Duplicates != 0 {
		t.Fatalf("drain: %d answers 200, issuer registered %d scans (%d duplicates); want %d, %d, 0", ok, st.Scans, st.Duplicates, n, n)
	}
}

// TestGarbageUpstreamIs502 puts the gateway in front of a backend that
// answers something other than HTTP.
func TestGarbageUpstreamIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-not-http\r\n\r\n")) //nolint:errcheck
			c.Close()
		}
	}()
	gw := startGateway(t, gatewayConfig(ln.Addr().String(), "", ""))
	status, _, body := do(t, "GET", gw.url("/v1/keys"), "")
	if status != 502 || !strings.Contains(body, `"error"`) {
		t.Fatalf("garbage upstream: %d %q; want 502 with a JSON error", status, body)
	}
}
