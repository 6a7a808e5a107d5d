package loadtest

import (
	"net"
	"testing"
	"time"

	"shedgate/issuer"
)

// startIssuer runs the simulated issuer on loopback until the test ends
// and returns it with its main URL.
func startIssuer(t *testing.T, cfg issuer.Config) (*issuer.Issuer, string) {
	t.Helper()
	iss, err := issuer.New(cfg)
	if err != nil {
		t.Fatalf("issuer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go iss.Serve(ln, adminLn) //nolint:errcheck
	t.Cleanup(func() { iss.Close() })
	return iss, "http://" + ln.Addr().String()
}

// Scans need a real code: the setup step fetches a pool of codes (not
// counted), every scan carries one and a unique sample_id, and the issuer
// registers every scan with no duplicates. The other templates use valid
// resident IDs, which the issuer checks.
func TestSetupCodesAgainstIssuer(t *testing.T) {
	iss, url := startIssuer(t, issuer.Config{Workers: 50, ServiceTime: time.Millisecond})
	s := parse(t, `
phases: [{rate: 150, duration: 1s}]
setup: {path: "/v1/codes/{key}", pool: 20}
requests:
  - class: scan
    path: /v1/scans
    body: '{"code":"{code}","site":"s{site}","sample_id":"{run}-{seq}"}'
    key: {kind: uniform, population: 1000, format: resident_id, seed: 3}
    params: {site: {kind: uniform, population: 5}}
  - class: show
    path: "/v1/codes/{key}"
    key: {kind: zipf, population: 100000, v: 10, format: resident_id}
  - class: relative
    path: "/v1/codes/{key}/relatives/{rid}"
    key: {kind: resident_id, population: 100}
    params: {rid: {kind: resident_id, population: 100, min_age: 60, max_age: 90, seed: 9}}
thresholds: ["all.success >= 1"]
`)
	r := run(t, s, Options{Target: url})
	if r.Setup.Codes != 20 || r.Setup.Requests != 20 {
		t.Errorf("setup %+v; want 20 codes from 20 requests", r.Setup)
	}
	st := iss.Stats()
	scans := r.Classes["scan"]
	if !r.Passed() || st.Scans != scans.OK || st.Duplicates != 0 {
		t.Errorf("report %+v, issuer scans %d duplicates %d; want every request ok, every scan registered once",
			r.All, st.Scans, st.Duplicates)
	}
	if got := st.Received - int64(r.Setup.Requests); got != r.Sent {
		t.Errorf("issuer received %d besides setup; report sent %d", got, r.Sent)
	}
}

// A setup whose target answers nothing gives up early with an error.
func TestSetupFailsFast(t *testing.T) {
	_, url := startIssuer(t, issuer.Config{Faults: issuer.Faults{ErrorRate: 1}})
	s := parse(t, `
phases: [{rate: 10, duration: 1s}]
setup: {path: "/v1/codes/{key}", pool: 200}
requests:
  - {class: scan, path: /v1/scans, body: '{"code":"{code}"}', key: {kind: resident_id, population: 10}}
`)
	began := time.Now()
	if _, err := Run(t.Context(), s, Options{Target: url}); err == nil {
		t.Fatalf("run: no error; want a setup error")
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("setup gave up after %v; want a few seconds", d)
	}
}
