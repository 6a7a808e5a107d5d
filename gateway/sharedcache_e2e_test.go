package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"shedgate/internal/proctest"
)

const testAdminToken = "t0k3n-for-tests-0123456789"

// echoRoutes is a gateway config in front of an echo-origin at target.
func echoConfig(target string) string {
	return configHead(fmt.Sprintf("  admin_token: %q", testAdminToken), "echo", strconv.Quote(target), "") + `limiter:
  classes: [{name: normal}]
routes:
  - {name: flight, method: GET, path: "/flight/{id}", upstream: echo, class: normal, key: "{id}", coalesce: true, cache: {ttl: upstream}}
  - {name: cached, method: GET, path: "/cached/{id}", upstream: echo, class: normal, key: "{id}", cache: {ttl: upstream}}
  - {name: public, method: GET, path: "/public/{id}", upstream: echo, class: normal, key: "{id}", cache: {ttl: upstream}, public: true}
  - {name: dropq, method: GET, path: "/dropq/{id}", upstream: echo, class: normal, key: "{id}", cache: {ttl: upstream}, query: drop, host: ignore}
  - {name: pair, method: GET, path: "/pair/{a}/with/{b}", upstream: echo, class: normal, key: "{a}:{b}", cache: {ttl: upstream}}
  - {name: checked, method: GET, path: "/checked/{id}", upstream: echo, class: normal, key: "{id}", validate: {id: resident_id}}
  - {name: rest, path: "/*", upstream: echo, class: normal}
`
}

type echoProc struct{ *proctest.Proc }

func startEcho(t *testing.T) echoProc {
	t.Helper()
	return echoProc{proctest.Start(t, proctest.Build(t, "shedgate/cmd/echo-origin"), "-listen", "127.0.0.1:0")}
}

// count is the number of requests the origin has served.
func (p echoProc) count(t *testing.T) int {
	t.Helper()
	resp, err := http.Get("http://" + p.Addrs[0] + "/__count")
	if err != nil {
		t.Fatalf("origin count: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n, _ := strconv.Atoi(string(b))
	return n
}

// echoed is what echo-origin answered, as the client got it.
type echoed struct {
	status  int
	header  http.Header
	N       int                 `json:"n"`
	Who     string              `json:"who"`
	URI     string              `json:"uri"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
}

// echoGet sends GET url as who; hdr are name, value pairs, added (so a
// name may repeat). X-Echo-Set values become the origin's answer headers.
func echoGet(t *testing.T, url, who string, hdr ...string) echoed {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Who", who)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e := echoed{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("GET %s: not an echo: %q", url, b)
		}
	}
	return e
}

const (
	maxAge60 = "Cache-Control: max-age=60"
	setEcho  = "X-Echo-Set"
)

// TestCoalescingNeverSharesAPrivateAnswer: five requests for one key
// arrive while the first is in flight. When the answer is private
// (Cache-Control private, or a Set-Cookie), every client gets its own
// answer and its own cookie; when it is shareable, one backend call
// serves all. (Before: every waiter got the first client's answer and
// nobody got a cookie.)
func TestCoalescingNeverSharesAPrivateAnswer(t *testing.T) {
	origin := startEcho(t)
	gw := startGateway(t, echoConfig(origin.Addrs[0]))
	for _, tc := range []struct {
		name   string
		set    []string
		shared bool
	}{
		{"private", []string{"Cache-Control: private, max-age=60", "Set-Cookie: sid={who}"}, false},
		{"set-cookie", []string{maxAge60, "Set-Cookie: sid={who}"}, false},
		{"no-store on a second line", []string{maxAge60, "Cache-Control: no-store"}, false},
		{"vary on a field each client sends differently", []string{maxAge60, "Vary: Accept-Language"}, false},
		{"vary star", []string{maxAge60, "Vary: *"}, false},
		{"shareable", []string{"Cache-Control: no-cache"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := origin.count(t)
			url := gw.url("/flight/" + strings.ReplaceAll(tc.name, " ", "-"))
			hdr := []string{"X-Echo-Delay", "400ms"}
			for _, s := range tc.set {
				hdr = append(hdr, setEcho, s)
			}
			var wg sync.WaitGroup
			got := make([]echoed, 6)
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i > 0 {
						time.Sleep(100 * time.Millisecond) // join the first one's flight
					}
					got[i] = echoGet(t, url, fmt.Sprintf("client-%d", i), append(hdr, "Accept-Language", fmt.Sprintf("lang-%d", i))...)
				}()
			}
			wg.Wait()
			calls := origin.count(t) - before
			for i, e := range got {
				who := fmt.Sprintf("client-%d", i)
				if e.status != 200 {
					t.Fatalf("%s: status %d", who, e.status)
				}
				if tc.shared {
					continue
				}
				if e.Who != who {
					t.Errorf("%s got %s's answer", who, e.Who)
				}
				if strings.Contains(strings.Join(tc.set, " "), "Set-Cookie") {
					if c := e.header.Get("Set-Cookie"); c != "sid="+who {
						t.Errorf("%s got Set-Cookie %q; want its own, sid=%s", who, c, who)
					}
				}
			}
			switch {
			case tc.shared && calls != 1:
				t.Errorf("shareable answer: %d backend calls for 6 requests; want 1", calls)
			case !tc.shared && calls != 6:
				t.Errorf("private answer: %d backend calls for 6 requests; want 6 (one each)", calls)
			}
		})
	}
}

// TestCacheHonoursWhatASharedCacheMust: every Cache-Control line, Vary,
// credentials, the Host and the query string, and Set-Cookie reaching its
// own requester. Each case states what it shows; before, each failed.
func TestCacheHonoursWhatASharedCacheMust(t *testing.T) {
	origin := startEcho(t)
	gw := startGateway(t, echoConfig(origin.Addrs[0]))
	xcache := func(e echoed) string { return e.header.Get("X-Cache") }

	// A no-store on a second Cache-Control line forbids storing.
	a := echoGet(t, gw.url("/cached/two-lines"), "a", setEcho, maxAge60, setEcho, "Cache-Control: no-store")
	b := echoGet(t, gw.url("/cached/two-lines"), "b", setEcho, maxAge60, setEcho, "Cache-Control: no-store")
	if b.Who != "b" || xcache(b) == "HIT" {
		t.Errorf("second Cache-Control line no-store: b got %s's answer (X-Cache %s); want its own", b.Who, xcache(b))
	}
	_ = a

	// Vary: an entry answers only requests with the same values of the
	// fields it names; Vary: * is never stored.
	echoGet(t, gw.url("/cached/vary"), "a", setEcho, maxAge60, setEcho, "Vary: Accept-Language", "Accept-Language", "zh")
	if b := echoGet(t, gw.url("/cached/vary"), "b", "Accept-Language", "en"); b.Who != "b" {
		t.Errorf("Vary: Accept-Language: the en request got the zh request's answer")
	}
	echoGet(t, gw.url("/cached/vary2"), "zh", setEcho, maxAge60, setEcho, "Vary: Accept-Language", "Accept-Language", "zh")
	if e := echoGet(t, gw.url("/cached/vary2"), "zh-again", "Accept-Language", "zh"); xcache(e) != "HIT" || e.Who != "zh" {
		t.Errorf("Vary: Accept-Language, same zh: X-Cache %q, who %s; want a HIT of the first zh answer", xcache(e), e.Who)
	}
	if e := echoGet(t, gw.url("/cached/vary2"), "none"); e.Who != "none" {
		t.Errorf("Vary: Accept-Language, a request without it got the zh answer")
	}
	echoGet(t, gw.url("/cached/star"), "a", setEcho, maxAge60, setEcho, "Vary: *")
	if e := echoGet(t, gw.url("/cached/star"), "b"); e.Who != "b" {
		t.Errorf("Vary: * was stored and served to another request")
	}

	// Set-Cookie reaches its own requester, and the answer is not stored.
	a = echoGet(t, gw.url("/cached/cookie"), "a", setEcho, maxAge60, setEcho, "Set-Cookie: sid={who}")
	if c := a.header.Get("Set-Cookie"); c != "sid=a" {
		t.Errorf("Set-Cookie of a's own answer: got %q; want sid=a", c)
	}
	if b := echoGet(t, gw.url("/cached/cookie"), "b"); b.Who != "b" || b.header.Get("Set-Cookie") != "" {
		t.Errorf("after a cookie answer: b got %s's answer, Set-Cookie %q; want its own, none", b.Who, b.header.Get("Set-Cookie"))
	}

	// Credentials: not answered from the cache, not stored, on a route
	// that is not public; shared on one that is.
	echoGet(t, gw.url("/cached/creds"), "anon", setEcho, maxAge60)
	if e := echoGet(t, gw.url("/cached/creds"), "alice", "Authorization", "Bearer alice"); e.Who != "alice" || xcache(e) == "HIT" {
		t.Errorf("Authorization request got %s's cached answer (X-Cache %s); want its own", e.Who, xcache(e))
	}
	if e := echoGet(t, gw.url("/cached/creds2"), "bob", "Cookie", "sid=bob", setEcho, maxAge60); e.Who != "bob" {
		t.Fatalf("cookie request: got %s", e.Who)
	}
	if e := echoGet(t, gw.url("/cached/creds2"), "anon"); e.Who != "anon" {
		t.Errorf("a Cookie request's answer was stored and served to %s: got %s's", "anon", e.Who)
	}
	echoGet(t, gw.url("/public/creds"), "anon", setEcho, maxAge60)
	if e := echoGet(t, gw.url("/public/creds"), "alice", "Authorization", "Bearer alice"); xcache(e) != "HIT" {
		t.Errorf("public route: Authorization request X-Cache %q; want HIT", xcache(e))
	}

	// Host and query are part of an entry's identity by default. (One
	// variant per key is kept: the last stored.)
	echoGet(t, gw.url("/cached/host"), "a", setEcho, maxAge60, "Host", "a.example")
	if e := echoGet(t, gw.url("/cached/host"), "a2", "Host", "A.EXAMPLE"); xcache(e) != "HIT" || e.Who != "a" {
		t.Errorf("Host A.EXAMPLE: X-Cache %q, who %s; want a HIT of a's answer (hosts are case-insensitive)", xcache(e), e.Who)
	}
	if e := echoGet(t, gw.url("/cached/host"), "b", setEcho, maxAge60, "Host", "b.example"); e.Who != "b" || e.Host != "b.example" {
		t.Errorf("Host b.example got the answer for %s (host %s); want its own", e.Who, e.Host)
	}
	echoGet(t, gw.url("/cached/q?lang=zh"), "zh", setEcho, maxAge60)
	if e := echoGet(t, gw.url("/cached/q?lang=en"), "en"); e.Who != "en" || e.URI != "/cached/q?lang=en" {
		t.Errorf("?lang=en got %s's answer for %s; want its own", e.Who, e.URI)
	}
	// query: drop removes it before forwarding, so ?x=random cannot bust
	// the cache; host: ignore shares entries across Host names.
	echoGet(t, gw.url("/dropq/k?bust=1"), "first", setEcho, maxAge60, "Host", "a.example")
	e := echoGet(t, gw.url("/dropq/k?bust=2"), "second", "Host", "b.example")
	if xcache(e) != "HIT" || e.URI != "/dropq/k" {
		t.Errorf("query: drop: X-Cache %q, origin saw %q; want HIT of /dropq/k", xcache(e), e.URI)
	}

	// Every answer not stored is counted by reason: an operator whose
	// backend sends Vary on everything sees why nothing is a hit.
	var st struct {
		Cache struct {
			NotStored map[string]uint64 `json:"not_stored"`
		} `json:"cache"`
	}
	getJSON(t, gw.admin("/status"), &st)
	for _, why := range []string{"cache_control", "set_cookie", "vary"} {
		if st.Cache.NotStored[why] == 0 {
			t.Errorf("/status cache.not_stored[%s] = 0 after such answers; have %v", why, st.Cache.NotStored)
		}
	}
	if m := getText(t, gw.admin("/metrics")); !strings.Contains(m, `gateway_cache_not_stored_total{reason="vary"}`) {
		t.Errorf("/metrics has no gateway_cache_not_stored_total{reason=\"vary\"}")
	}

	// Composite keys do not collide: K1:K2 + K3 is not K1 + K2:K3.
	echoGet(t, gw.url("/pair/K1:K2/with/K3"), "first", setEcho, maxAge60)
	if e := echoGet(t, gw.url("/pair/K1/with/K2:K3"), "second", setEcho, maxAge60); e.Who != "second" {
		t.Errorf("/pair/K1/with/K2:K3 got %s's answer for /pair/K1:K2/with/K3", e.Who)
	}
}

// TestEdgeValidationSparesTheBackend: 200 distinct malformed resident IDs
// get 400 JSON naming the parameter (never its value) and cost the origin
// nothing; a well-formed one goes through.
func TestEdgeValidationSparesTheBackend(t *testing.T) {
	origin := startEcho(t)
	gw := startGateway(t, echoConfig(origin.Addrs[0]))
	before := origin.count(t)
	for i := range 200 {
		id := fmt.Sprintf("11010519491231%04d", i) // wrong check digit for most, or wrong length
		if i%3 == 0 {
			id = id[:17]
		}
		status, _, body := do(t, "GET", gw.url("/checked/"+id), "")
		if status != 400 || !strings.Contains(body, "malformed path parameter id") || strings.Contains(body, id) {
			if status == 200 && i%3 != 0 {
				continue // the rare right check digit
			}
			t.Fatalf("/checked/%s: %d %q; want 400 naming the parameter, not the value", id, status, body)
		}
	}
	if calls := origin.count(t) - before; calls > 20 {
		t.Errorf("%d malformed IDs reached the origin; want none (a few valid by chance)", calls)
	}
	if status, _, _ := do(t, "GET", gw.url("/checked/"+seniorID), ""); status != 200 {
		t.Errorf("a well-formed ID: status %d; want 200", status)
	}
}

// TestEveryConnectionLineIsHonoured: headers named by a second Connection
// line (and past the 16th token) are hop-by-hop too. (Before: only the
// first line's first 16 tokens were.)
func TestEveryConnectionLineIsHonoured(t *testing.T) {
	origin := startEcho(t)
	gw := startGateway(t, echoConfig(origin.Addrs[0]))
	var tokens []string
	for i := range 20 {
		tokens = append(tokens, fmt.Sprintf("X-T%d", i))
	}
	raw := "GET /anything HTTP/1.1\r\nHost: x\r\nConnection: X-A\r\nConnection: X-B, " + strings.Join(tokens, ", ") + "\r\n" +
		"X-A: 1\r\nX-B: 2\r\nX-T19: 3\r\nX-Kept: 4\r\n\r\n"
	status, body := rawExchange(t, gw.Addrs[0], raw)
	var e echoed
	if status != 200 || json.Unmarshal([]byte(body), &e) != nil {
		t.Fatalf("status %d body %q", status, body)
	}
	for _, h := range []string{"X-A", "X-B", "X-T19"} {
		if v, ok := e.Headers[h]; ok {
			t.Errorf("origin received %s: %v; want it stripped", h, v)
		}
	}
	if e.Headers["X-Kept"] == nil {
		t.Errorf("origin did not receive X-Kept: %v", e.Headers)
	}
}

// TestAdminTokenGuardsReload: with server.admin_token set, POST /reload
// needs it; a non-loopback admin_listen without one does not start.
func TestAdminTokenGuardsReload(t *testing.T) {
	origin := startEcho(t)
	gw := startGateway(t, echoConfig(origin.Addrs[0]))
	status, hdr, body := do(t, "POST", gw.admin("/reload"), "")
	if status != 401 || hdr.Get("WWW-Authenticate") == "" || !strings.HasPrefix(body, `{"error":`) {
		t.Errorf("reload without the token: %d %q; want 401 with WWW-Authenticate", status, body)
	}
	if status, _, body := do(t, "POST", gw.admin("/reload"), "", "Authorization", "Bearer wrong-token-0123456789"); status != 401 {
		t.Errorf("reload with a wrong token: %d %q; want 401", status, body)
	}
	if status, _, body := do(t, "POST", gw.admin("/reload"), "", "Authorization", "Bearer "+testAdminToken); status != 200 {
		t.Errorf("reload with the token: %d %q; want 200", status, body)
	}

	bin := proctest.Build(t, "shedgate/cmd/gateway")
	exposed := strings.Replace(strings.Replace(echoConfig(origin.Addrs[0]), `admin_listen: "[::1]:0"`, `admin_listen: "0.0.0.0:0"`, 1),
		"  admin_token: \""+testAdminToken+"\"\n", "", 1)
	code, out := proctest.Run(t, 10*time.Second, bin, "-config", proctest.WriteFile(t, "exposed.yaml", exposed))
	if code != 2 || !strings.Contains(out, "server.admin_listen") || !strings.Contains(out, "admin_token") {
		t.Errorf("admin_listen 0.0.0.0 without a token: exit %d, output %q; want exit 2 naming server.admin_listen", code, out)
	}
}

// TestCoalescingKeepsVariantsApart: requests for one key with different
// query strings arrive while the first is in flight; each gets the answer
// to its own query.
func TestCoalescingKeepsVariantsApart(t *testing.T) {
	origin := startEcho(t)
	gw := startGateway(t, echoConfig(origin.Addrs[0]))
	var wg sync.WaitGroup
	got := make([]echoed, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i > 0 {
				time.Sleep(100 * time.Millisecond)
			}
			got[i] = echoGet(t, gw.url(fmt.Sprintf("/flight/variants?lang=%d", i%2)), fmt.Sprint(i),
				"X-Echo-Delay", "300ms", setEcho, "Cache-Control: no-cache")
		}()
	}
	wg.Wait()
	for i, e := range got {
		if want := fmt.Sprintf("/flight/variants?lang=%d", i%2); e.URI != want {
			t.Errorf("request %d for %s got the answer for %s", i, want, e.URI)
		}
	}
}
