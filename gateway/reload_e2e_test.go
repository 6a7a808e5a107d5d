package gateway_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"shedgate/internal/proctest"
	"shedgate/internal/wait"
)

// reloadConfig is a config in two variants that differ in classes, limits
// and the code route's class, with the given upstream targets.
func reloadConfig(targets []string, variantB bool) string {
	classes := shippedClasses
	limits, codeClass := "initial_limit: 20\n  max_limit: 1000", "normal"
	if variantB {
		classes += `
    - {name: batch,    max_queue: 100,  max_wait: 50ms}`
		limits, codeClass = "initial_limit: 50\n  max_limit: 500", "high"
	}
	return configHead("", "issuer", `"`+strings.Join(targets, `", "`)+`"`, "    timeout: 3s") + fmt.Sprintf(`limiter:
  %s
  classes:%s
routes:
  - name: code
    method: GET
    path: /v1/codes/{id}
    upstream: issuer
    class: %s
    key: "{id}"
    cache: {ttl: upstream, max_ttl: 720h, stale_for: 24h}
    coalesce: true
  - {name: checkin, method: POST, path: "/v1/venues/{venue}/checkins", upstream: issuer, class: high}
  - {name: passthrough, path: "/*", upstream: issuer, class: normal}
`, limits, classes, codeClass)
}

// replaceFile writes content to path the way editors do: a new file
// renamed over the old one.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type gatewayStatus struct {
	Connections struct {
		Open int `json:"open"`
	} `json:"connections"`
	Config struct {
		Version int    `json:"version"`
		Hash    string `json:"hash"`
	} `json:"config"`
	Reload struct {
		Reloads   int    `json:"reloads"`
		Failures  int    `json:"failures"`
		LastError string `json:"last_error"`
	} `json:"reload"`
	Routes []struct {
		Name  string `json:"name"`
		Class string `json:"class"`
	} `json:"routes"`
	Upstreams []struct {
		Targets []struct {
			Addr      string `json:"addr"`
			Failures  uint64 `json:"failures"`
			Ejections uint64 `json:"ejections"`
			Breaker   string `json:"breaker"`
		} `json:"targets"`
	} `json:"upstreams"`
}

func (p gatewayProc) status(t *testing.T) gatewayStatus {
	t.Helper()
	var s gatewayStatus
	getJSON(t, p.admin("/status"), &s)
	return s
}

func startGatewayFile(t *testing.T, config string) (gatewayProc, string) {
	t.Helper()
	bin := proctest.Build(t, "shedgate/cmd/gateway")
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := gatewayProc{proctest.Start(t, bin, "-config", path)}
	waitReady(t, p.admin("/readyz"))
	return p, path
}

// TestReloadUnderLoadDropsNothing: under a steady 3,000 req/s, 20 reloads
// in 10 s, half of them changing classes, limits and targets, cause no
// client-visible error other than shedding and no connection reset.
func TestReloadUnderLoadDropsNothing(t *testing.T) {
	is1 := startIssuer(t, "-workers", "64", "-service-time", "1ms", "-key-seed", "01")
	is2 := startIssuer(t, "-workers", "64", "-service-time", "1ms", "-key-seed", "01")
	gw, path := startGatewayFile(t, reloadConfig([]string{is1.addr()}, false))
	ids := makeIDs(3000, 21)

	done := make(chan *loadResult)
	go func() {
		done <- steadyLoad(t, 3000, 10*time.Second, func(i int) (string, string, string) {
			if i%5 == 0 {
				return "POST", gw.url("/v1/venues/hall-3/checkins"), fmt.Sprintf(`{"id":%q}`, ids[i%len(ids)])
			}
			return "GET", gw.url("/v1/codes/" + ids[i%len(ids)]), ""
		})
	}()
	targets := [][]string{{is1.addr(), is2.addr()}, {is2.addr()}, {is1.addr()}}
	for i := range 20 {
		time.Sleep(500 * time.Millisecond)
		replaceFile(t, path, reloadConfig(targets[i%3], i%2 == 0))
		switch i % 3 {
		case 1:
			gw.Signal(syscall.SIGHUP) //nolint:errcheck
		case 2:
			if s, _, body := do(t, "POST", gw.admin("/reload"), ""); s != 200 {
				t.Errorf("POST /reload: %d %s", s, body)
			}
		}
	}
	res := <-done
	t.Logf("reloads under load: %s; status reloads %d", res, gw.status(t).Reload.Reloads)
	if res.errors.Load() != 0 || res.resets.Load() != 0 {
		t.Fatalf("reloads under load: %s; want no errors and no resets", res)
	}
	st := gw.status(t)
	if st.Reload.Reloads < 15 || st.Reload.Failures != 0 {
		t.Fatalf("status: %d reloads, %d failures; want about 20 and 0", st.Reload.Reloads, st.Reload.Failures)
	}
	if s1, s2 := is1.stats(t), is2.stats(t); s1.Received == 0 || s2.Received == 0 {
		t.Fatalf("issuers received %d and %d; want both used as targets moved", s1.Received, s2.Received)
	}
}

// TestInvalidReloadRefused: a reload with an invalid config is refused with
// file, line and key, and the gateway keeps serving on the old config.
func TestInvalidReloadRefused(t *testing.T) {
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	good := reloadConfig([]string{is.addr()}, false)
	gw, path := startGatewayFile(t, good)
	before := gw.status(t).Config
	f := func(name, config, wantKey string) {
		t.Helper()
		replaceFile(t, path, config)
		status, _, body := do(t, "POST", gw.admin("/reload"), "")
		var answer struct{ Error string }
		json.Unmarshal([]byte(body), &answer) //nolint:errcheck
		re := regexp.MustCompile(regexp.QuoteMeta(path) + `:\d+: ` + regexp.QuoteMeta(wantKey))
		if status != 422 || !re.MatchString(answer.Error) {
			t.Fatalf("%s: %d %q; want 422 naming %s:LINE: %s", name, status, answer.Error, path, wantKey)
		}
		if s, _, _ := do(t, "GET", gw.url("/v1/codes/"+seniorID), ""); s != 200 {
			t.Fatalf("%s: GET after the refused reload: %d; want 200", name, s)
		}
		if _, _, m := do(t, "GET", gw.admin("/metrics"), ""); !strings.Contains(m, "gateway_config_reload_failures_total ") {
			t.Fatalf("%s: no reload failure counter in /metrics", name)
		}
		st := gw.status(t)
		if st.Config.Version != before.Version || st.Config.Hash != before.Hash || !re.MatchString(st.Reload.LastError) {
			t.Fatalf("%s: status version %d hash %.8s last error %q; want the old version and the error",
				name, st.Config.Version, st.Config.Hash, st.Reload.LastError)
		}
	}
	f("unknown key", strings.Replace(good, "  listen:", "  lisen:", 1), "server.lisen")
	f("wrong type", strings.Replace(good, "max_queue: 2000", "max_queue: lots", 1), "limiter.classes[0].max_queue")
	f("bad duration", strings.Replace(good, "timeout: 3s", "timeout: 3 seconds", 1), "upstreams.issuer.timeout")
	f("unknown class", strings.Replace(good, "class: high}", "class: urgent}", 1), "routes[1].class")
	f("unknown upstream", strings.Replace(good, "upstream: issuer, class: high", "upstream: nowhere, class: high", 1), "routes[1].upstream")
	f("bad path template", strings.Replace(good, `"/v1/venues/{venue}/checkins"`, `"/v1/venues/{venue/checkins"`, 1), "routes[1].path")
	f("negative duration", strings.Replace(good, "max_wait: 1s", "max_wait: -1s", 1), "limiter.classes[0].max_wait")
	f("impossible limits", strings.Replace(good, "initial_limit: 20", "initial_limit: 5000", 1), "limiter.initial_limit")
	f("key not in path", strings.Replace(good, `key: "{id}"`, `key: "{rid}"`, 1), "routes[0].key")
	f("empty file", "", "(document)")
}

// TestReloadTakesEffectWithinASecond: a route's class change written to
// the file reaches new requests through the watcher alone, and the next
// request is counted under the new class. The time it takes is a figure,
// not a pass mark here: make bench (TestBenchReloadEffect) prints its
// median against the 1 s target; this test only refuses a watcher that
// takes longer than a busy machine could explain.
func TestReloadTakesEffectWithinASecond(t *testing.T) {
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	gw, path := startGatewayFile(t, reloadConfig([]string{is.addr()}, false))
	took := classChangeTime(t, gw, path, "high", reloadConfig([]string{is.addr()}, true), 10*time.Second)
	do(t, "GET", gw.url("/v1/codes/"+seniorID), "")
	_, _, metrics := do(t, "GET", gw.admin("/metrics"), "")
	if !strings.Contains(metrics, `gateway_requests_total{route="code",class="high",status="200"}`) {
		t.Fatalf("a request after the reload was not counted under class high")
	}
	t.Logf("class change in effect %v after the file was written", took)
}

// classChangeTime writes config to path and returns how long it took until
// /status showed the code route in class want.
func classChangeTime(t *testing.T, gw gatewayProc, path, want, config string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	replaceFile(t, path, config)
	wait.For(t, limit, "the code route's class to change to "+want, func() bool {
		for _, r := range gw.status(t).Routes {
			if r.Name == "code" {
				return r.Class == want
			}
		}
		return false
	})
	return time.Since(start)
}

// TestBenchReloadEffect: how long a config file change takes to reach new
// requests through the watcher, median of 9 alternating writes (target
// within 1 s).
func TestBenchReloadEffect(t *testing.T) {
	benchOnly(t)
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	gw, path := startGatewayFile(t, reloadConfig([]string{is.addr()}, false))
	var took []time.Duration
	for i := range 9 {
		want, config := "high", reloadConfig([]string{is.addr()}, true)
		if i%2 == 1 {
			want, config = "normal", reloadConfig([]string{is.addr()}, false)
		}
		took = append(took, classChangeTime(t, gw, path, want, config, 10*time.Second))
		time.Sleep(300 * time.Millisecond)
	}
	slices.Sort(took)
	t.Logf("class change times: %v", took)
	median := took[len(took)/2]
	figure(t, "reload_file_to_effect_median", float64(median.Milliseconds()), "ms", "<= 1000", median <= time.Second)
	figure(t, "reload_file_to_effect_max", float64(took[len(took)-1].Milliseconds()), "ms", "<= 1000", took[len(took)-1] <= time.Second)
}
