package issuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/valyala/fasthttp"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are the failures the issuer injects. The zero value injects none.
type Faults struct {
	// ErrorRate is the fraction, 0 to 1, of requests answered 500
	// {"error":"injected"} after their service, without changing any state.
	// Default 0.
	ErrorRate float64
	// ErrorStatus is the status of the injected errors, 500 to 599:
	// 503 imitates a backend that refuses work, which a gateway may retry.
	// Default 500 (0 means 500).
	ErrorStatus int
	// Latency is added to every request's service time (so it holds a
	// worker). Default 0.
	Latency time.Duration
	// Hang makes the issuer accept requests and never answer them: each
	// blocks until Hang is cleared, then its connection is closed without
	// an answer. Requests being served when it is set hang after their
	// service. Default false.
	Hang bool
	// Outage closes the main listener and every open connection on it, so
	// clients get connection refused; clearing it listens again on the same
	// address. The admin listener stays up. Default false.
	Outage bool
	// DropRate is the fraction, 0 to 1, of state-changing requests (scans,
	// re-issues, check-ins) that are applied and then get no answer: the
	// connection closes, as when a backend's answer is lost. Default 0.
	DropRate float64
}

// Validate returns an error if a field is out of range.
func (f Faults) Validate() error {
	if !(f.DropRate >= 0 && f.DropRate <= 1) {
		return fmt.Errorf("issuer: drop rate %v out of [0, 1]", f.DropRate)
	}
	if !(f.ErrorRate >= 0 && f.ErrorRate <= 1) {
		return fmt.Errorf("issuer: error rate %v out of [0, 1]", f.ErrorRate)
	}
	if f.ErrorStatus != 0 && (f.ErrorStatus < 500 || f.ErrorStatus > 599) {
		return fmt.Errorf("issuer: error status %d out of [500, 599]", f.ErrorStatus)
	}
	if f.Latency < 0 {
		return fmt.Errorf("issuer: negative latency %v", f.Latency)
	}
	return nil
}

// FaultsStatus is the JSON form of the current faults and worker count, as
// GET /stats (under "faults") and POST /faults report them.
type FaultsStatus struct {
	ErrorRate   float64 `json:"error_rate"`
	ErrorStatus int     `json:"error_status"`
	Latency     string  `json:"latency"`
	Hang        bool    `json:"hang"`
	Outage      bool    `json:"outage"`
	DropRate    float64 `json:"drop_rate"`
	Workers     int     `json:"workers"`
}

// faultState holds the current faults; the request path reads them without
// locking.
type faultState struct {
	errorRate   atomic.Uint64 // math.Float64bits of Faults.ErrorRate
	dropRate    atomic.Uint64 // math.Float64bits of Faults.DropRate
	errorStatus atomic.Int64  // Faults.ErrorStatus
	latency     atomic.Int64  // Faults.Latency
	hang        atomic.Pointer[hangGate]

	mu     sync.Mutex // serializes changes; guards outage
	outage bool
}

// hangGate is closed when a hang is cleared.
type hangGate struct {
	cleared chan struct{}
}

// injectError draws whether this request gets an injected error.
func (fs *faultState) injectError() bool {
	rate := math.Float64frombits(fs.errorRate.Load())
	return rate > 0 && rand.Float64() < rate
}

// injectDrop draws whether this applied request loses its answer.
func (fs *faultState) injectDrop() bool {
	rate := math.Float64frombits(fs.dropRate.Load())
	return rate > 0 && rand.Float64() < rate
}

// setHang sets or clears the hang fault.
func (fs *faultState) setHang(on bool) {
	if on {
		fs.hang.CompareAndSwap(nil, &hangGate{cleared: make(chan struct{})})
		return
	}
	if g := fs.hang.Swap(nil); g != nil {
		close(g.cleared)
	}
}

// Faults returns the current faults. It is safe for concurrent use.
func (s *Issuer) Faults() Faults {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faultsLocked()
}

func (s *Issuer) faultsLocked() Faults {
	return Faults{
		ErrorRate:   math.Float64frombits(s.faults.errorRate.Load()),
		ErrorStatus: int(s.faults.errorStatus.Load()),
		Latency:     time.Duration(s.faults.latency.Load()),
		Hang:        s.faults.hang.Load() != nil,
		Outage:      s.faults.outage,
		DropRate:    math.Float64frombits(s.faults.dropRate.Load()),
	}
}

// setFaults replaces the current faults. Setting Outage closes the main
// listener and its connections; clearing it listens again on the same
// address, and an error doing so is returned (the other faults are set and
// the outage stays). It is safe for concurrent use.
func (s *Issuer) setFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.setFaultsLocked(f)
}

func (s *Issuer) setFaultsLocked(f Faults) error {
	s.faults.errorRate.Store(math.Float64bits(f.ErrorRate))
	s.faults.errorStatus.Store(int64(f.ErrorStatus))
	s.faults.latency.Store(int64(f.Latency))
	s.faults.dropRate.Store(math.Float64bits(f.DropRate))
	s.faults.setHang(f.Hang)
	if f.Outage == s.faults.outage {
		return nil
	}
	if err := s.setOutage(f.Outage); err != nil {
		return err
	}
	s.faults.outage = f.Outage
	return nil
}

// faultsPatch is the body of POST /faults: any subset of the fields.
type faultsPatch struct {
	ErrorRate   *float64 `json:"error_rate"`
	ErrorStatus *int     `json:"error_status"`
	Latency     *string  `json:"latency"`
	Hang        *bool    `json:"hang"`
	Outage      *bool    `json:"outage"`
	DropRate    *float64 `json:"drop_rate"`
	Workers     *int     `json:"workers"`
}

// errBadPatch marks a POST /faults body that must be answered 400.
var errBadPatch = errors.New("bad faults")

// parseFaultsPatch decodes a POST /faults body strictly.
func parseFaultsPatch(body []byte) (faultsPatch, error) {
	var p faultsPatch
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%w: %v", errBadPatch, err)
	}
	if dec.More() {
		return p, fmt.Errorf("%w: data after the JSON object", errBadPatch)
	}
	if p.Workers != nil && (*p.Workers < 1 || *p.Workers > maxWorkers) {
		return p, fmt.Errorf("%w: workers %d out of [1, %d]", errBadPatch, *p.Workers, maxWorkers)
	}
	return p, nil
}

// applyFaultsPatch applies p on top of the current faults and worker count.
// An invalid value is an error wrapping errBadPatch, and nothing changes.
func (s *Issuer) applyFaultsPatch(p faultsPatch) error {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	f := s.faultsLocked()
	if p.ErrorRate != nil {
		f.ErrorRate = *p.ErrorRate
	}
	if p.ErrorStatus != nil {
		f.ErrorStatus = *p.ErrorStatus
	}
	if p.Latency != nil {
		d, err := time.ParseDuration(*p.Latency)
		if err != nil {
			return fmt.Errorf("%w: latency: %v", errBadPatch, err)
		}
		f.Latency = d
	}
	if p.Hang != nil {
		f.Hang = *p.Hang
	}
	if p.Outage != nil {
		f.Outage = *p.Outage
	}
	if p.DropRate != nil {
		f.DropRate = *p.DropRate
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errBadPatch, err)
	}
	if p.Workers != nil {
		s.pool.setWorkers(*p.Workers)
	}
	return s.setFaultsLocked(f)
}

// faultsStatus returns the JSON form of the current faults.
func (s *Issuer) faultsStatus() FaultsStatus {
	f := s.Faults()
	_, workers := s.pool.sizes()
	return FaultsStatus{
		ErrorRate:   f.ErrorRate,
		ErrorStatus: f.errorStatus(),
		Latency:     f.Latency.String(),
		Hang:        f.Hang,
		Outage:      f.Outage,
		DropRate:    f.DropRate,
		Workers:     workers,
	}
}

// errorStatus is the status injected errors are answered with.
func (f Faults) errorStatus() int {
	if f.ErrorStatus == 0 {
		return fasthttp.StatusInternalServerError
	}
	return f.ErrorStatus
}
