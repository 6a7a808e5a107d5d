package upstream

import "strconv"

// TargetState summarizes whether a target takes requests, for /status and
// metrics: the health checks' verdict first, then the breaker's.
type TargetState uint8

// The target states.
const (
	// StateHealthy: requests flow (breaker closed, checks passing or none).
	StateHealthy TargetState = iota
	// StateUnhealthy: the active health checks fail; no requests.
	StateUnhealthy
	// StateEjected: the breaker is open and its ejection runs; no requests.
	StateEjected
	// StateHalfOpen: a few probe requests at a time decide its return.
	StateHalfOpen
)

// String returns "healthy", "unhealthy", "ejected" or "half-open".
func (s TargetState) String() string {
	switch s {
	case StateHealthy:
		return "healthy"
	case StateUnhealthy:
		return "unhealthy"
	case StateEjected:
		return "ejected"
	case StateHalfOpen:
		return "half-open"
	}
	return "TargetState(" + strconv.Itoa(int(s)) + ")"
}

// PoolStats holds a pool's figures; Pool.Stats fills it.
type PoolStats struct {
	Name string
	// Retries counts retries sent by Send.
	Retries uint64
	// RetriesRefused counts retries the budget refused.
	RetriesRefused uint64
	// RetryBudget is the retries the budget would allow at once now.
	RetryBudget float64
	// Unavailable counts calls answered ErrUnavailable at once because no
	// target was available.
	Unavailable uint64
	// Panics counts requests sent to a target whose breaker was open
	// because every target's was (see Pool.Send).
	Panics uint64
	// Targets holds one entry per target, in config order.
	Targets []TargetStats
}

// TargetStats holds one target's figures.
type TargetStats struct {
	Addr    string
	State   TargetState
	Breaker BreakerState
	// Healthy is the active health checks' verdict; true when none run.
	Healthy bool
	// InFlight is the number of requests in flight.
	InFlight int64
	// Conns is the number of open connections.
	Conns int
	// Requests counts attempts sent.
	Requests uint64
	// Failures counts attempts with no answer or a 5xx answer.
	Failures uint64
	// Ejections counts the times the breaker opened.
	Ejections uint64
}

// Stats fills s with the pool's current figures, reusing s.Targets'
// storage. It is safe to call concurrently with requests; the figures are
// read one by one, not as one snapshot.
func (p *Pool) Stats(s *PoolStats) {
	now := p.now()
	s.Name = p.name
	s.Retries = p.budget.retries.Load()
	s.RetriesRefused = p.budget.refused.Load()
	s.RetryBudget = p.budget.left(now, &p.retry)
	s.Unavailable = p.budget.unavailable.Load()
	s.Panics = p.budget.panics.Load()
	s.Targets = s.Targets[:0]
	for _, t := range p.targets {
		s.Targets = append(s.Targets, TargetStats{
			Addr: t.addr, State: p.State(t), Breaker: t.Breaker(), Healthy: t.Healthy(),
			InFlight: t.Pending(), Conns: t.Conns(), Requests: t.Requests(),
			Failures: t.Failures(), Ejections: t.Ejections(),
		})
	}
}

// State returns t's state as seen by p now: unhealthy, ejected, half-open
// (an ejection that ran out counts as half-open) or healthy.
func (p *Pool) State(t *Target) TargetState {
	switch {
	case !t.Healthy():
		return StateUnhealthy
	case !p.outlier.enabled():
		return StateHealthy
	}
	switch t.Breaker() {
	case BreakerOpen:
		if p.now() < t.br.openUntil.Load() {
			return StateEjected
		}
		return StateHalfOpen
	case BreakerHalfOpen:
		return StateHalfOpen
	}
	return StateHealthy
}

// Retries returns the number of retries Send sent.
func (p *Pool) Retries() uint64 { return p.budget.retries.Load() }

// RetriesRefused returns the number of retries the budget refused.
func (p *Pool) RetriesRefused() uint64 { return p.budget.refused.Load() }

// RetryBudget returns the retries the budget would allow at once now.
func (p *Pool) RetryBudget() float64 { return p.budget.left(p.now(), &p.retry) }

// Panics returns the number of requests sent past every breaker.
func (p *Pool) Panics() uint64 { return p.budget.panics.Load() }

// Unavailable returns the number of calls answered ErrUnavailable at once.
func (p *Pool) Unavailable() uint64 { return p.budget.unavailable.Load() }
