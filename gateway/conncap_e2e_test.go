package gateway_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"shedgate/internal/proctest"
)

// TestIdleConnectionsCannotLockOut runs the gateway with a limit of 512
// descriptors and opens 800 keep-alive connections that each send one
// request and then sit idle: the longest idle are closed to make room, and
// a new client and the admin listener are answered within 1 s. It does so
// with and without server.reduce_memory, and checks that the option
// lowers the memory an idle connection holds.
func TestIdleConnectionsCannotLockOut(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	is := startIssuer(t, "-workers", "16", "-service-time", "1ms")
	plain := idleLockout(t, prlimit, is, "")
	reduced := idleLockout(t, prlimit, is, "  reduce_memory: true")
	t.Logf("RSS per open idle connection: %.1f KiB, %.1f KiB with reduce_memory", plain, reduced)
	if reduced > 0.8*plain {
		t.Errorf("reduce_memory: %.1f KiB per idle connection against %.1f KiB; want at most 0.8x", reduced, plain)
	}
}

// idleLockout is one run of TestIdleConnectionsCannotLockOut with server
// lines extra; it returns the RSS added per open connection, in KiB.
func idleLockout(t *testing.T, prlimit string, is issuerProc, extra string) float64 {
	bin := proctest.Build(t, "shedgate/cmd/gateway")
	path := proctest.WriteFile(t, "gateway.yaml", gatewayConfig(is.addr(), extra, "    max_conns_per_target: 64"))
	gw := gatewayProc{proctest.Start(t, prlimit, "--nofile=512:512", bin, "-config", path)}
	waitReady(t, gw.admin("/readyz"))
	var st struct {
		Connections struct {
			Open, Max        int
			Evicted, Refused uint64
		}
	}
	getJSON(t, gw.admin("/status"), &st)
	rssBefore := gw.RSS(t)
	var idle []net.Conn
	for i := range 800 {
		c, err := net.Dial("tcp", gw.Addrs[0])
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		idle = append(idle, c)
		fmt.Fprintf(c, "GET /v1/keys HTTP/1.1\r\nHost: gw\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
		}
	}
	rssAfter := gw.RSS(t)
	start := time.Now()
	client := &http.Client{Timeout: time.Second}
	resp, err := client.Get(gw.url("/v1/keys"))
	if err != nil {
		t.Fatalf("a new client after 800 idle connections: %v (%v); want an answer within 1 s", err, time.Since(start))
	}
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != 200 {
		t.Fatalf("a new client: %d", resp.StatusCode)
	}
	if s, _, _ := do(t, "GET", gw.admin("/readyz"), ""); s != 200 {
		t.Fatalf("/readyz: %d", s)
	}
	getJSON(t, gw.admin("/status"), &st)
	perConn := float64(rssAfter-rssBefore) / 1024 / float64(st.Connections.Open)
	t.Logf("%q: cap %d; after 800 idle connections: %d open, %d evicted, %d refused; a new client answered in %v; RSS +%.1f KiB per open connection",
		extra, st.Connections.Max, st.Connections.Open, st.Connections.Evicted, st.Connections.Refused, took, perConn)
	if st.Connections.Max >= 512 || st.Connections.Evicted == 0 || st.Connections.Open > st.Connections.Max {
		t.Fatalf("connections %+v; want a cap below the 512 descriptors, kept by evicting idle ones", st.Connections)
	}
	if strings.Contains(gw.Stderr(), "accept paused") {
		t.Errorf("the gateway ran out of descriptors:\n%s", gw.Stderr())
	}
	for _, c := range idle {
		c.Close()
	}
	return perConn
}
