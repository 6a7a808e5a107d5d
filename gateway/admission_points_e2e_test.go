package gateway_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"shedgate/internal/proctest"
)

// The admission issue's end-to-end points: the grid of TestAdmissionGrid
// (limiter/, simulated time) at the points two cores can drive, each
// through the gateway and through HAProxy's expert config (maxconn twice
// the workers, set-priority-class by route, timeout queue 500ms, its
// cache) in the same run and layout.

// admIssueMix is the admission issue's own mix: 2% test-site scans, 4%
// venue check-ins, 84% show-code on a skewed population (83% repeat keys
// and 1% first-time codes: the harness needs every weight positive), 10%
// re-issues.
var admIssueMix = admMix{"the issue's mix", 2, 4, 83, 1, 10}

// admPoint is one end-to-end point: an issuer of workers x service (its
// workers finishing in lockstep) offered 10x its capacity.
type admPoint struct {
	name     string
	workers  int
	service  time.Duration
	kinds    []string // client kinds (admClients)
	pinned   bool     // the gateway (HAProxy) on CPU 0, issuer and generator on CPU 1
	gateways int      // 1, or a fleet sharing Redis behind the generator's spread
}

func (p admPoint) capacity() int { return int(float64(p.workers) / p.service.Seconds()) }

// cpus returns the CPU of the proxy (gateway or HAProxy) and the one of
// the issuer and the generator: 0 and 1 pinned, else -1 (anywhere).
func (p admPoint) cpus() (proxy, other int) {
	if p.pinned {
		return 0, 1
	}
	return -1, -1
}

var admPoints = []admPoint{
	{"20x20ms shared cores", 20, 20 * time.Millisecond, []string{"patient", "impatient", "polite"}, false, 1},
	{"20x20ms gateway pinned", 20, 20 * time.Millisecond, []string{"patient", "impatient", "polite"}, true, 1},
	{"50x5ms shared cores", 50, 5 * time.Millisecond, []string{"impatient"}, false, 1},
	{"20x20ms 3 gateways + Redis", 20, 20 * time.Millisecond, []string{"impatient"}, false, 3},
}

// TestBenchAdmissionPoints prints the admission figures of every point
// of admPoints, the gateway's run beside HAProxy's. SHEDGATE_ADM picks
// runs by substring of "point, kind".
func TestBenchAdmissionPoints(t *testing.T) {
	benchOnly(t)
	only := os.Getenv("SHEDGATE_ADM")
	for _, p := range admPoints {
		for _, kind := range p.kinds {
			name := fmt.Sprintf("%s, %s", p.name, kind)
			if !strings.Contains(name, only) {
				continue
			}
			g, h := runAdmPoint(t, p, kind)
			admFigures(t, name, g, h)
		}
	}
}

// runAdmPoint runs point p with clients of kind through the gateway (or
// p.gateways of them) and through HAProxy, each in front of a fresh
// issuer.
func runAdmPoint(t *testing.T, p admPoint, kind string) (g, h admResult) {
	t.Helper()
	g = runAdmGateway(t, p, kind)
	proxyCPU, otherCPU := p.cpus()
	is := lockstepIssuerOn(t, otherCPU, p.workers, p.service)
	hp := startHAProxyOn(t, proxyCPU, func(l string) string { return haproxyConfigMax(l, is.addr(), 2*p.workers) })
	h = runSurgeOn(t, otherCPU, is, admPointScenario(t, p, kind), "http://"+hp, nil)
	is.Kill()
	return g, h
}

func admPointScenario(t *testing.T, p admPoint, kind string) string {
	c := p.capacity()
	return admScenarioAt(t, admIssueMix, admClients[kind], c/2, 10*c)
}

// runAdmGateway runs point p with clients of kind through the gateway (or
// p.gateways of them sharing Redis) in front of a fresh issuer, and stops
// them all.
func runAdmGateway(t *testing.T, p admPoint, kind string) admResult {
	t.Helper()
	gwCPU, otherCPU := p.cpus()
	is := lockstepIssuerOn(t, otherCPU, p.workers, p.service)
	defer is.Kill()
	var gws []gatewayProc
	var urls []string
	if p.gateways > 1 {
		r := proctest.StartRedis(t)
		defer r.Kill()
		for range p.gateways {
			gw := startGatewayOn(t, gwCPU, admissionConfigFor(is.addr(), p.workers)+"cache:\n"+sharedCache(r.Addr)+"\n")
			gws, urls = append(gws, gw), append(urls, "http://"+gw.Addrs[0])
		}
		waitSubscribed(t, gws)
	} else {
		gw := startGatewayOn(t, gwCPU, admissionConfigFor(is.addr(), p.workers))
		gws, urls = []gatewayProc{gw}, []string{"http://" + gw.Addrs[0]}
	}
	g := runSurgeOn(t, otherCPU, is, admPointScenario(t, p, kind), strings.Join(urls, ","), gws)
	c := p.capacity()
	g.light, g.surge = float64(c/2), float64(10*c)
	if kind != "polite" {
		g.mix = &admIssueMix // polite retries come back seconds later: the paced estimate counts first tries only
	}
	for _, gw := range gws {
		gw.Kill()
	}
	return g
}

// TestAdmissionIssueSurge is make test's check, with loose bounds, of the
// failure the admission issue measured: 20 workers x 20 ms in lockstep,
// its mix at 10x, impatient clients (about 222,000 attempts in 12 s at
// the front), through the gateway only, on shared cores and with the
// gateway pinned to a core of its own. Measured then: scans 27-87% and
// check-ins 7.5-38% served, the issuer 30-54% busy; pinned, check-ins
// 66.9%, the issuer about 60% busy. make bench prints the figures beside
// HAProxy's (TestBenchAdmissionPoints).
func TestAdmissionIssueSurge(t *testing.T) {
	if os.Getenv("SHEDGATE_BENCH") != "" {
		t.Skip("make bench runs TestBenchAdmissionPoints")
	}
	for _, p := range admPoints[:2] {
		t.Run(p.name, func(t *testing.T) {
			g := runAdmGateway(t, p, "impatient")
			c := g.rep.Classes
			// Loose: bench runs served 100% of both and kept the issuer
			// 97-98% busy, its queue at most 1.2x its workers.
			if c["scan"].Success < 0.99 || c["checkin"].Success < 0.9 {
				t.Errorf("success scan %.4f, checkin %.4f; want >= 0.99 and >= 0.9", c["scan"].Success, c["checkin"].Success)
			}
			if g.busy < 0.7 {
				t.Errorf("issuer busy %.0f%% of the surge; want >= 70%%", 100*g.busy)
			}
			if g.queue > 6*int64(p.workers) {
				t.Errorf("issuer queue reached %d; want <= 6x its %d workers (target 3x)", g.queue, p.workers)
			}
		})
	}
}
