package issuer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults of Config.
const (
	DefaultWorkers     = 20
	DefaultServiceTime = 20 * time.Millisecond
	DefaultGrowth      = 10.0
)

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("issuer: closed")

// Config configures an Issuer. Every field's zero value means its documented
// default, so the zero Config is usable.
type Config struct {
	// Workers is the number of requests served at once: the capacity.
	// Default 20 (DefaultWorkers); at most 100000.
	Workers int
	// ServiceTime is the base time a worker spends on one request.
	// Default 20ms (DefaultServiceTime); negative means none.
	ServiceTime time.Duration
	// Growth sets how service time grows with the queue. A worker taking a
	// request while queued others wait holds its slot for
	//
	//	ServiceTime × (1 + queued/(Workers×Growth)) + Faults.Latency
	//
	// (capped at one hour). Default 10 (DefaultGrowth): a queue of 10 ×
	// Workers doubles the service time. +Inf keeps it constant.
	Growth float64
	// Faults are the faults active from the start. Default none.
	Faults Faults
	// Now is the clock of the domain rules: code validity, re-issue days,
	// ages, unveiling. It does not drive service times or latency, which
	// use the real clock. Default time.Now.
	Now func() time.Time
	// KeySeed seeds the Ed25519 signing key, so that several processes can
	// share one key: 32 bytes are the seed itself, any other non-empty
	// length is hashed with SHA-256 into one. Default (empty): a random key.
	KeySeed []byte
}

// Validate returns an error if a field is out of range.
func (c Config) Validate() error {
	if c.Workers < 0 || c.Workers > maxWorkers {
		return fmt.Errorf("issuer: workers %d out of [0, %d]", c.Workers, maxWorkers)
	}
	if c.Growth < 0 || math.IsNaN(c.Growth) {
		return fmt.Errorf("issuer: growth %v must be positive", c.Growth)
	}
	return c.Faults.Validate()
}

func (c Config) workers() int {
	if c.Workers == 0 {
		return DefaultWorkers
	}
	return c.Workers
}

func (c Config) serviceTime() time.Duration {
	if c.ServiceTime == 0 {
		return DefaultServiceTime
	}
	return c.ServiceTime
}

func (c Config) growth() float64 {
	if c.Growth == 0 {
		return DefaultGrowth
	}
	return c.Growth
}

func (c Config) key() ed25519.PrivateKey {
	switch len(c.KeySeed) {
	case 0:
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic("BUG: ed25519 key generation: " + err.Error())
		}
		return key
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(c.KeySeed)
	default:
		seed := sha256.Sum256(c.KeySeed)
		return ed25519.NewKeyFromSeed(seed[:])
	}
}

// Issuer is a simulated code-issuance backend. Create it with New, serve it
// with Serve (or mount Handler and AdminHandler on servers of your own) and
// stop it with Close. All its methods are safe for concurrent use.
type Issuer struct {
	now    func() time.Time
	codes  *codeStore
	venues *venueLog
	pub    []byte // Ed25519 public key
	pool   *workerPool
	faults faultState
	stats  counters
	idem   idempotency
	srv    serverState
}

// New returns an Issuer configured by cfg, with its workers started, or an
// error if cfg is invalid.
func New(cfg Config) (*Issuer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	key := cfg.key()
	s := &Issuer{
		now:    cfg.Now,
		codes:  newCodeStore(key),
		venues: newVenueLog(),
		pub:    key.Public().(ed25519.PublicKey),
		srv:    newServerState(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	base, growth, faults := cfg.serviceTime(), cfg.growth(), &s.faults
	s.pool = newWorkerPool(cfg.workers(), func(queued, workers int) time.Duration {
		return serviceTime(base, growth, queued, workers, time.Duration(faults.latency.Load()))
	})
	f := cfg.Faults
	s.faults.errorRate.Store(math.Float64bits(f.ErrorRate))
	s.faults.latency.Store(int64(f.Latency))
	s.faults.setHang(f.Hang)
	s.faults.outage = f.Outage // Serve applies it: it has a listener to close
	return s, nil
}

// publicKey returns the Ed25519 public key that verifies the issuer's codes.
// The caller must not modify it.
func (s *Issuer) publicKey() ed25519.PublicKey {
	return s.pub
}

// setWorkers changes the worker count at run time, from 1 to 100000.
// Queued requests are kept; surplus workers stop after their current
// request.
func (s *Issuer) setWorkers(n int) error {
	if n < 1 || n > maxWorkers {
		return fmt.Errorf("issuer: workers %d out of [1, %d]", n, maxWorkers)
	}
	s.pool.setWorkers(n)
	return nil
}
