package gateway_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"shedgate/internal/proctest"
)

// TestBenchHitPerCore measures cache hits per core: each server pinned to
// CPU 0 with one thread (the gateway and the bare fasthttp server with
// GOMAXPROCS=1, HAProxy with nbthread 1, nginx with one process), wrk
// -t1 -c64 pinned to CPU 1, one ~300-byte code, twelve interleaved rounds
// of 2 s with the order rotated. The gateway's config has 20 routes, the
// cached one last (manyRoutesConfig): a hit costs the same whichever
// route it is.
// Figures: each server's median throughput, each cache's median ratio to
// the bare fasthttp server answering the same bytes, and the gateway's to
// HAProxy's cache.
func TestBenchHitPerCore(t *testing.T) {
	benchOnly(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs: one for the server, one for wrk")
	}
	tools := map[string]string{}
	for _, tool := range []string{"taskset", "wrk", "haproxy", "nginx"} {
		path, err := exec.LookPath(tool)
		if err != nil {
			if path, err = exec.LookPath("/usr/sbin/" + tool); err != nil {
				t.Skipf("%s not installed: scripts/deps.sh haproxy nginx wrk", tool)
			}
		}
		tools[tool] = path
	}
	is := startIssuer(t, "-workers", "8", "-service-time", "1ms")
	path := "/v1/codes/" + seniorID

	// Every server on CPU 0, one thread each.
	t.Setenv("GOMAXPROCS", "1")
	pinned := func(bin string, args ...string) *proctest.Proc {
		return proctest.Start(t, tools["taskset"], append([]string{"-c", "0", bin}, args...)...)
	}
	gwCfg := proctest.WriteFile(t, "gateway.yaml", manyRoutesConfig(is.addr()))
	gw := pinned(proctest.Build(t, "shedgate/cmd/gateway"), "-config", gwCfg)
	gwURL := "http://" + gw.Addrs[0] + path

	hp := startConfigured(t, []string{tools["taskset"], "-c", "0", tools["haproxy"], "-db", "-f"}, "haproxy.cfg", func(listen string) string {
		return fmt.Sprintf(`global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 2s
cache codes
  total-max-size 64
  max-object-size 16384
  max-age 2592000
frontend fe
  bind %s
  default_backend issuer
backend issuer
  http-request cache-use codes
  http-response cache-store codes
  server s1 %s
`, listen, is.addr())
	})
	dir := t.TempDir()
	ng := startConfigured(t, []string{tools["taskset"], "-c", "0", tools["nginx"], "-p", dir, "-c"}, "nginx.conf", func(listen string) string {
		return fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  proxy_cache_path %[1]s/cache keys_zone=codes:10m;
  server {
    listen %[2]s;
    location / {
      proxy_pass http://%[3]s;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache codes;
      proxy_cache_lock on;
    }
  }
}
`, dir, listen, is.addr())
	})

	// Each cache fetches the code once; then it is a hit.
	var hitHdr http.Header
	var body string
	for _, u := range []string{gwURL, "http://" + hp + path, "http://" + ng + path} {
		for range 2 {
			_, hitHdr, body = do(t, "GET", u, "")
		}
		if u == gwURL && hitHdr.Get("X-Cache") != "HIT" {
			t.Fatalf("gateway warm-up: X-Cache %q; want HIT", hitHdr.Get("X-Cache"))
		}
	}
	_, hitHdr, body = do(t, "GET", gwURL, "")
	bodyFile := filepath.Join(t.TempDir(), "code.json")
	if err := os.WriteFile(bodyFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-listen", "127.0.0.1:0", "-body", bodyFile}
	for _, h := range []string{"Content-Type", "Cache-Control", "Age", "X-Cache", "Server"} {
		if v := hitHdr.Get(h); v != "" {
			args = append(args, "-header", h+": "+v)
		}
	}
	bare := pinned(proctest.Build(t, "shedgate/cmd/fixed-origin"), args...)

	targets := []struct{ name, url string }{
		{"bare fasthttp", "http://" + bare.Addrs[0] + path},
		{"gateway", gwURL},
		{"HAProxy cache", "http://" + hp + path},
		{"nginx proxy_cache", "http://" + ng + path},
	}
	// Short interleaved runs, the order rotated each round, so that each
	// ratio compares runs a few seconds apart and a burst of steal time
	// on this shared machine lands on a different target each round.
	const rounds = 12
	rates := make([][]float64, len(targets))
	for round := range rounds {
		for j := range targets {
			i := (round + j) % len(targets)
			rates[i] = append(rates[i], wrkRate(t, tools, targets[i].url))
		}
	}
	ratios := make([][]float64, len(targets))
	for i := 1; i < len(targets); i++ {
		for r := range rounds {
			ratios[i] = append(ratios[i], rates[i][r]/rates[0][r])
		}
	}
	vsHAProxy := make([]float64, rounds)
	for r := range rounds {
		vsHAProxy[r] = rates[1][r] / rates[2][r]
	}
	for i, tg := range targets {
		figure(t, fmt.Sprintf("hits per core: %s (median of %d)", tg.name, rounds), median(rates[i]), "/s", "", true)
	}
	g := median(ratios[1])
	figure(t, "hits per core: gateway / bare fasthttp", g, "x", ">= 0.95", g >= 0.95)
	figure(t, "hits per core: HAProxy cache / bare fasthttp", median(ratios[2]), "x", "", true)
	figure(t, "hits per core: nginx proxy_cache / bare fasthttp", median(ratios[3]), "x", "", true)
	h := median(vsHAProxy)
	figure(t, "hits per core: gateway / HAProxy cache", h, "x", "> 1", h > 1)
}

// manyRoutesConfig is cacheConfig with 19 routes before the cached code
// route and none after it: literals, parameters and wildcards that share
// its prefix, so that a router trying each in turn works through them all.
func manyRoutesConfig(target string) string {
	cfg := cacheConfig(target, "")
	head, _, _ := strings.Cut(cfg, "routes:\n")
	var b strings.Builder
	b.WriteString(head + "routes:\n")
	for i := range 19 {
		var path, method string
		switch i % 4 {
		case 0:
			method, path = "GET", fmt.Sprintf("/v1/codes/{id}/extra%d", i)
		case 1:
			method, path = "POST", fmt.Sprintf("/v1/codes/{id}/p%d", i)
		case 2:
			method, path = "GET", fmt.Sprintf("/v1/other%d/{id}", i)
		default:
			method, path = "GET", fmt.Sprintf("/v%d/*", i+2)
		}
		fmt.Fprintf(&b, "  - {name: r%d, method: %s, path: %q, upstream: issuer, class: normal}\n", i, method, path)
	}
	b.WriteString(`  - name: code
    method: GET
    path: /v1/codes/{id}
    upstream: issuer
    class: normal
    key: "{id}"
    cache: {ttl: upstream, max_ttl: 720h, stale_for: 24h}
    coalesce: true
`)
	return b.String()
}

var wrkRateRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrkRate runs wrk -t1 -c64 for 2 s on CPU 1 against url and returns its
// requests per second; non-2xx answers fail the test.
func wrkRate(t *testing.T, tools map[string]string, url string) float64 {
	t.Helper()
	out, err := exec.Command(tools["taskset"], "-c", "1", tools["wrk"], "-t1", "-c64", "-d2s", url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	if strings.Contains(string(out), "Non-2xx") {
		t.Fatalf("wrk %s: non-2xx answers:\n%s", url, out)
	}
	m := wrkRateRe.FindSubmatch(out)
	if m == nil {
		t.Fatalf("wrk %s: no Requests/sec in\n%s", url, out)
	}
	rate, _ := strconv.ParseFloat(string(m[1]), 64)
	return rate
}
