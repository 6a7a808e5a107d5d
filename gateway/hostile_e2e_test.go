package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"shedgate/internal/wait"
)

// rawExchange sends raw bytes on a new connection to addr and returns the
// status of the answer (0 when none came) and the answer's body.
func rawExchange(t *testing.T, addr, raw string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	if _, err := c.Write([]byte(raw)); err != nil {
		return 0, ""
	}
	req, _ := http.NewRequest("GET", "/", nil)
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b) //nolint:errcheck
	return resp.StatusCode, b.String()
}

// TestUnforwardableRequestsNeverEjectTheTarget: requests the gateway
// cannot forward (no Host at all, an https:// or ftp:// absolute-form
// target, TRACE, CONNECT) are the client's errors. 1,000 of them get
// 400/421/405 JSON, the issuer sees none, its target is never ejected,
// and an uncached request right after is served. (Before: each counted as
// the target's failure, five a second kept it ejected.)
func TestUnforwardableRequestsNeverEjectTheTarget(t *testing.T) {
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "", ""))
	cases := []struct {
		raw    string
		status int
	}{
		{"GET /v1/zzz HTTP/1.0\r\n\r\n", 400},
		{"GET /v1/codes/" + seniorID + " HTTP/1.0\r\n\r\n", 400},
		{"GET https://gw.example/v1/zzz HTTP/1.1\r\nHost: gw.example\r\n\r\n", 421},
		{"GET ftp://gw.example/v1/keys HTTP/1.1\r\nHost: gw.example\r\n\r\n", 421},
		{"TRACE /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cr3t\r\n\r\n", 405},
		{"CONNECT 127.0.0.1:9000 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n\r\n", 405},
	}
	before := is.stats(t).Received
	for i := range 1000 {
		c := cases[i%len(cases)]
		status, body := rawExchange(t, gw.Addrs[0], c.raw)
		if status != c.status || !strings.HasPrefix(body, `{"error":`) {
			t.Fatalf("request %d %q: got %d %q; want %d with a JSON error", i, c.raw, status, body, c.status)
		}
	}
	if got := is.stats(t).Received - before; got != 0 {
		t.Errorf("the issuer received %d of the unforwardable requests; want 0", got)
	}
	tg := gw.status(t).Upstreams[0].Targets[0]
	if tg.Failures != 0 || tg.Ejections != 0 || tg.Breaker != "closed" {
		t.Errorf("target after 1000 bad requests: failures %d ejections %d breaker %q; want 0, 0, closed",
			tg.Failures, tg.Ejections, tg.Breaker)
	}
	if status, _, body := do(t, "POST", gw.url("/v1/scans"), `{"sample":"S1","id":"`+seniorID+`"}`); status >= 500 {
		t.Errorf("a scan after the bad requests: %d %s; want it served", status, body)
	}
}

// TestServerLogNeverHoldsRequestBytes: requests fasthttp cannot parse,
// carrying resident IDs and a bearer token, leave no trace of either in
// the gateway's output, only throttled lines naming the kind of error.
// (Before: fasthttp's default logger wrote each request in full.)
func TestServerLogNeverHoldsRequestBytes(t *testing.T) {
	is := startIssuer(t, "-workers", "4", "-service-time", "1ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "", ""))
	const token = "Bearer tok-8c1f6be2d94a"
	var ids []string
	for i := range 200 {
		id := fmt.Sprintf("4401061990%07dX", i)
		ids = append(ids, id)
		var raw string
		switch i % 4 {
		case 0: // a header line without a colon
			raw = "GET /v1/codes/" + id + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + token + "\r\nbroken " + id + "\r\n\r\n"
		case 1: // a bad chunk size
			raw = "POST /v1/scans HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{\"id\":\"" + id + "\"}\r\n0\r\n\r\n"
		case 2: // both Content-Length and a bad one
			raw = "POST /v1/scans HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: x" + id + "\r\n\r\nhello"
		case 3: // garbage request line
			raw = "G\x00T /v1/codes/" + id + " HTTP/1.1\r\nHost: x\r\nCookie: sid=" + id + "\r\n\r\n"
		}
		status, body := rawExchange(t, gw.Addrs[0], raw)
		if status != 0 && status < 400 {
			t.Fatalf("bad request %d got %d %q; want an error", i, status, body)
		}
	}
	// Also the admin server.
	rawExchange(t, gw.Addrs[1], "GET /status HTTP/1.1\r\nHost: x\r\nbroken "+ids[0]+"\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	out := gw.Stderr()
	for _, id := range ids {
		if strings.Contains(out, id) {
			t.Fatalf("resident ID %s in the gateway's output:\n%s", id, out)
		}
	}
	if strings.Contains(out, "tok-8c1f6be2d94a") {
		t.Fatalf("the bearer token is in the gateway's output:\n%s", out)
	}
	lines := strings.Count(out, "http server error")
	if lines == 0 || lines > 10 {
		t.Fatalf("%d 'http server error' lines for 201 bad requests in well under 10 s; want 1 to 10 (throttled):\n%s", lines, out)
	}
	if !strings.Contains(out, `"kind"`) {
		t.Fatalf("server error lines name no kind:\n%s", out)
	}
	// Every one is counted, logged or not.
	m := getText(t, gw.admin("/metrics"))
	counted := 0
	for _, line := range strings.Split(m, "\n") {
		if strings.HasPrefix(line, `gateway_http_server_errors_total{server="public"`) {
			n, _ := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:])
			counted += n
		}
	}
	if counted < 200 {
		t.Fatalf("gateway_http_server_errors_total counts %d errors of the public server; want the 200 bad requests", counted)
	}
}

// TestTimeoutsCutSlowClientsOnly: the public connections' timeouts are
// enforced by a sweep (internal/deadlines), not a runtime timer per
// request. A client trickling a header gets 408 at read_timeout, not
// before and not much after; a keep-alive connection whose deadlines
// passed while it was idle, or while the backend took longer than
// read_timeout, still serves its next requests.
func TestTimeoutsCutSlowClientsOnly(t *testing.T) {
	is := startIssuer(t, "-service-time", "1ms")
	gw := startGateway(t, gatewayConfig(is.addr(), "  read_timeout: 500ms\n  write_timeout: 500ms", "    timeout: 5s"))

	// Slowloris: a header byte every 100 ms, never finished.
	start := time.Now()
	c, err := net.Dial("tcp", gw.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /v1/keys HTTP/1.1\r\nHost: x\r\nX-Slow: ")) //nolint:errcheck
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	took := time.Since(start)
	close(done)
	if err != nil {
		t.Fatalf("slow header: no answer after %v: %v", took, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 408 {
		t.Fatalf("slow header: %d; want 408", resp.StatusCode)
	}
	if took < 500*time.Millisecond || took > 1500*time.Millisecond {
		t.Fatalf("slow header cut after %v; want read_timeout (500ms) plus at most a sweep", took)
	}

	// One keep-alive connection: requests 700 ms apart (its read and write
	// deadlines pass while it is idle), then a backend slower than
	// read_timeout (its read deadline passes while the handler waits).
	kc, err := net.Dial("tcp", gw.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	br := bufio.NewReader(kc)
	exchange := func(what string) {
		t.Helper()
		kc.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
		if _, err := kc.Write([]byte("GET /v1/keys HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatalf("%s: write: %v", what, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("%s: %d (close %v); want 200 on a kept connection", what, resp.StatusCode, resp.Close)
		}
	}
	for i := range 3 {
		exchange(fmt.Sprintf("idle request %d", i))
		time.Sleep(700 * time.Millisecond)
	}
	is.setFaults(t, `{"latency":"800ms"}`)
	exchange("request slower than read_timeout")
	is.setFaults(t, `{"latency":"0s"}`)
	exchange("request after it")

	// The kept connection is counted open; the slowloris one, cut, is not.
	_, _, metricsText := do(t, "GET", gw.admin("/metrics"), "")
	if open := gw.status(t).Connections.Open; open != 1 || metricValue(metricsText, "gateway_connections_open") != 1 {
		t.Fatalf("connections open: /status %d, /metrics %v; want 1", open, metricValue(metricsText, "gateway_connections_open"))
	}
	kc.Close()
	wait.For(t, 5*time.Second, "the closed connection to leave /status", func() bool {
		return gw.status(t).Connections.Open == 0
	})
}
