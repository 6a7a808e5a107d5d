package issuer

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"shedgate/internal/fakeclock"
)

// newFakeClock returns the injected clock of the domain rules' tests.
func newFakeClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC))
}

// testIssuer is an Issuer served on loopback listeners.
type testIssuer struct {
	*Issuer
	addr      string // main listener host:port
	adminAddr string
	clock     *fakeclock.Clock
	client    *http.Client
}

// startIssuer serves an issuer on 127.0.0.1:0. cfg.Now is a fresh fake clock
// unless set; ServiceTime 0 is replaced by none, to keep tests fast.
func startIssuer(t *testing.T, cfg Config) *testIssuer {
	t.Helper()
	ti := &testIssuer{client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	if cfg.Now == nil {
		ti.clock = newFakeClock()
		cfg.Now = ti.clock.Now
	}
	if cfg.ServiceTime == 0 {
		cfg.ServiceTime = -1
	}
	iss, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ti.Issuer, ti.addr, ti.adminAddr = iss, ln.Addr().String(), adminLn.Addr().String()
	errc := make(chan error, 1)
	go func() { errc <- iss.Serve(ln, adminLn) }()
	t.Cleanup(func() {
		iss.Close()
		ti.client.CloseIdleConnections()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Serve: got %v; want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
	return ti
}

// do sends a request to the main listener; hdr are name, value pairs.
func (ti *testIssuer) do(t *testing.T, method, path, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	return doHTTP(t, ti.client, method, "http://"+ti.addr+path, body, hdr...)
}

// admin sends a request to the admin listener.
func (ti *testIssuer) admin(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	status, _, b := doHTTP(t, ti.client, method, "http://"+ti.adminAddr+path, body)
	return status, b
}

// stats reads GET /stats.
func (ti *testIssuer) stats(t *testing.T) Stats {
	t.Helper()
	status, body := ti.admin(t, "GET", "/stats", "")
	if status != 200 {
		t.Fatalf("GET /stats: got %d; want 200", status)
	}
	var st Stats
	mustJSON(t, body, &st)
	return st
}

func doHTTP(t *testing.T, c *http.Client, method, url, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	status, h, b, err := tryHTTP(c, method, url, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return status, h, b
}

// tryHTTP sends a request; hdr are name, value pairs. It is safe to call
// from any goroutine.
func tryHTTP(c *http.Client, method, url, body string, hdr ...string) (int, http.Header, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, "", fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(b), nil
}

func mustJSON(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
}
