package issuer

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"shedgate/internal/wait"
)

func TestErrorRateFault(t *testing.T) {
	ti := startIssuer(t, Config{Faults: Faults{ErrorRate: 1}})
	c := codeJSON{Code: "v1.x.y"}
	status, _, body := ti.do(t, "GET", "/v1/codes/"+testID, "")
	if status != 500 || body != `{"error":"injected"}` {
		t.Errorf("with error rate 1: got %d %s; want 500 injected", status, body)
	}
	if status, body := ti.admin(t, "POST", "/faults", `{"error_rate":0}`); status != 200 || !strings.Contains(body, `"error_rate":0`) {
		t.Fatalf("clear error rate: got %d %s", status, body)
	}
	c, _ = getCode(t, ti, testID)
	if c.Serial != 1 {
		t.Errorf("serial after an injected error: got %d; want 1 (no state change)", c.Serial)
	}
	ti.setFaults(Faults{ErrorRate: 1})
	if status, _ := scan(t, ti, c.Code, "s1"); status != 500 {
		t.Errorf("scan with error rate 1: got %d; want 500", status)
	}
	st := ti.stats(t)
	if st.Scans != 0 || st.ErrorsInjected != 2 || st.Faults.ErrorRate != 1 {
		t.Errorf("stats: got scans %d errors_injected %d error_rate %v; want 0 2 1", st.Scans, st.ErrorsInjected, st.Faults.ErrorRate)
	}
}

func TestLatencyFault(t *testing.T) {
	ti := startIssuer(t, Config{})
	if status, body := ti.admin(t, "POST", "/faults", `{"latency":"60ms"}`); status != 200 || !strings.Contains(body, `"latency":"60ms"`) {
		t.Fatalf("set latency: got %d %s; want 200 latency 60ms", status, body)
	}
	start := time.Now()
	ti.do(t, "GET", "/v1/keys", "")
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Errorf("request with 60ms added latency: got %v; want >= 60ms", took)
	}
}

func TestHangFault(t *testing.T) {
	ti := startIssuer(t, Config{})
	if status, body := ti.admin(t, "POST", "/faults", `{"hang":true}`); status != 200 || !strings.Contains(body, `"hang":true`) {
		t.Fatalf("set hang: got %d %s; want 200 hang true", status, body)
	}
	client := &http.Client{Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := client.Get("http://" + ti.addr + "/v1/keys")
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("request while hung: got %v; want a timeout", err)
	}
	if took := time.Since(start); took < 190*time.Millisecond {
		t.Errorf("request while hung: failed after %v; want a 200ms timeout", took)
	}
	// A request whose client waits longer gets no answer either: its
	// connection is closed when the hang clears.
	errc := make(chan error, 1)
	go func() {
		_, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ti.addr + "/v1/keys")
		errc <- err
	}()
	wait.For(t, 5*time.Second, "two hung requests", func() bool { return ti.stats(t).Hung == 2 })
	if status, _ := ti.admin(t, "POST", "/faults", `{"hang":false}`); status != 200 {
		t.Fatalf("clear hang: got %d; want 200", status)
	}
	if err := <-errc; err == nil {
		t.Errorf("hung request after the hang cleared: got an answer; want none")
	}
	wait.For(t, 5*time.Second, "no hung requests", func() bool { return ti.stats(t).Hung == 0 })
	if status, _, _ := ti.do(t, "GET", "/v1/keys", ""); status != 200 {
		t.Errorf("after the hang: got %d; want 200", status)
	}
	if st := ti.stats(t); st.Served != 1 || st.InFlight != 0 {
		t.Errorf("stats: got served %d in_flight %d; want 1 0", st.Served, st.InFlight)
	}
}

func TestOutageFault(t *testing.T) {
	ti := startIssuer(t, Config{})
	conn, err := net.Dial("tcp", ti.addr) // an open connection is closed by the outage
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if status, body := ti.admin(t, "POST", "/faults", `{"outage":true}`); status != 200 || !strings.Contains(body, `"outage":true`) {
		t.Fatalf("set outage: got %d %s; want 200 outage true", status, body)
	}
	if _, err := net.DialTimeout("tcp", ti.addr, time.Second); err == nil {
		t.Errorf("dial during the outage: got a connection; want refused")
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	var netErr net.Error
	if n, err := conn.Read(make([]byte, 1)); err == nil || errors.As(err, &netErr) && netErr.Timeout() {
		t.Errorf("read on a connection open before the outage: got %d bytes, %v; want it closed", n, err)
	}
	if st := ti.stats(t); !st.Faults.Outage {
		t.Errorf("stats during the outage: got outage false; want true")
	}
	if status, _ := ti.admin(t, "POST", "/faults", `{"outage":false}`); status != 200 {
		t.Fatalf("clear outage: got %d; want 200", status)
	}
	if status, _, _ := ti.do(t, "GET", "/v1/keys", ""); status != 200 {
		t.Errorf("after the outage, same address: got %d; want 200", status)
	}
}

func TestOutageAtStart(t *testing.T) {
	ti := startIssuer(t, Config{Faults: Faults{Outage: true}})
	ti.stats(t) // the admin listener answers once the main one is closed
	if _, err := net.DialTimeout("tcp", ti.addr, time.Second); err == nil {
		t.Errorf("dial with an outage from the start: got a connection; want refused")
	}
	if err := ti.setFaults(Faults{}); err != nil {
		t.Fatalf("clear outage: %v", err)
	}
	if status, _, _ := ti.do(t, "GET", "/v1/keys", ""); status != 200 {
		t.Errorf("after the outage: got %d; want 200", status)
	}
}

func TestAdminFaultsValidation(t *testing.T) {
	ti := startIssuer(t, Config{Workers: 3})
	f := func(body string, wantStatus int, wantBody string) {
		t.Helper()
		status, got := ti.admin(t, "POST", "/faults", body)
		if status != wantStatus || !strings.Contains(got, wantBody) {
			t.Errorf("POST /faults %s: got %d %s; want %d with %s", body, status, got, wantStatus, wantBody)
		}
	}
	f(`{}`, 200, `{"error_rate":0,"error_status":500,"latency":"0s","hang":false,"outage":false,"drop_rate":0,"workers":3}`)
	f(`{"error_rate":0.25,"latency":"5ms"}`, 200, `{"error_rate":0.25,"error_status":500,"latency":"5ms","hang":false,"outage":false,"drop_rate":0,"workers":3}`)
	f(`{"error_status":503}`, 200, `"error_status":503`)
	f(`{"error_status":404}`, 400, `"error":`)
	f(`{"error_rate":1.5}`, 400, `"error":`)
	f(`{"error_rate":-0.1}`, 400, `"error":`)
	f(`{"error_rate":"high"}`, 400, `"error":`)
	f(`{"latency":"soon"}`, 400, `"error":`)
	f(`{"latency":"-5ms"}`, 400, `"error":`)
	f(`{"workers":0}`, 400, `"error":`)
	f(`{"workers":1000001}`, 400, `"error":`)
	f(`{"hang":"yes"}`, 400, `"error":`)
	f(`{"typo":true}`, 400, `"error":`)
	f(`{} {}`, 400, `"error":`)
	f(``, 400, `"error":`)
	f(`{"error_status":500}`, 200, `"error_status":500`)
	// Nothing changed by the refused ones.
	if status, body := ti.admin(t, "GET", "/faults", ""); status != 200 || body != `{"error_rate":0.25,"error_status":500,"latency":"5ms","hang":false,"outage":false,"drop_rate":0,"workers":3}` {
		t.Errorf("GET /faults: got %d %s", status, body)
	}
}

func TestAdminRoutes(t *testing.T) {
	ti := startIssuer(t, Config{})
	f := func(method, path string, wantStatus int, wantBody string) {
		t.Helper()
		status, body := ti.admin(t, method, path, "")
		if status != wantStatus || !strings.Contains(body, wantBody) {
			t.Errorf("%s %s: got %d %s; want %d with %s", method, path, status, body, wantStatus, wantBody)
		}
	}
	f("GET", "/healthz", 200, `{"status":"ok"}`)
	f("GET", "/stats", 200, `"ops":{`)
	f("GET", "/stats", 200, `"latency_ms":{"p50":0,"p99":0,"max":0}`)
	f("POST", "/stats", 405, `{"error":"method not allowed"}`)
	f("GET", "/stats/reset", 405, `{"error":"method not allowed"}`)
	f("GET", "/nope", 404, `{"error":"not found"}`)
}

func TestServeAfterClose(t *testing.T) {
	iss, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	iss.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	adminLn, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := iss.Serve(ln, adminLn); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: got %v; want ErrClosed", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	f := func(cfg Config) {
		t.Helper()
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): got nil error; want one", cfg)
		}
	}
	f(Config{Workers: -1})
	f(Config{Growth: -1})
	f(Config{Faults: Faults{ErrorRate: 2}})
	f(Config{Faults: Faults{Latency: -time.Second}})
}
