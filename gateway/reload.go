package gateway

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"shedgate/configs"
	"shedgate/upstream"
)

// reloader serializes reloads and remembers how the last ones went.
type reloader struct {
	load func() (*configs.Config, error)

	mu          sync.Mutex // serializes Reload; guards the fields below
	lastError   string
	lastErrorAt time.Time

	reloads, failures atomic.Uint64
	// lastFailed: the last reload was refused; lastSuccess: Unix
	// seconds of the last config that took (the start's included).
	lastFailed  atomic.Bool
	lastSuccess atomic.Int64
}

// ReloadStatus is the reload part of /status.
type ReloadStatus struct {
	Reloads     uint64     `json:"reloads"`
	Failures    uint64     `json:"failures"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

func (r *reloader) status() ReloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := ReloadStatus{Reloads: r.reloads.Load(), Failures: r.failures.Load(), LastError: r.lastError}
	if !r.lastErrorAt.IsZero() {
		t := r.lastErrorAt
		s.LastErrorAt = &t
	}
	return s
}

// Reload reads the config again and, if it is valid, switches to it
// atomically: requests that started under the old version finish under it,
// new ones run under the new one. Cache contents, limiter state and the
// connections of targets that stay carry over; removed targets are drained;
// moved listen addresses are rebound before the old ones close. An invalid
// config changes nothing: the error (file, line and key) is returned,
// logged, counted and shown in /status. why labels the log entry; a reload
// from the file watcher is skipped when the file's content is unchanged.
func (g *Gateway) Reload(why string) error {
	r := &g.reload
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := g.state.Load()
	cfg, err := r.load()
	if err == nil && why == reasonWatch && cfg.Hash == cur.cfg.Hash {
		return nil
	}
	if err == nil {
		err = restartOnly(cur.cfg, cfg)
	}
	var next *state
	if err == nil {
		next, err = g.compile(cfg, cur.version+1, cur)
	}
	if err == nil {
		err = g.rebind(cfg.Server.Listen, cfg.Server.AdminListen)
	}
	if err == nil {
		err = g.limiter.Reconfigure(limiterConfig(&cfg.Limiter))
	}
	if err != nil {
		r.failures.Add(1)
		r.lastFailed.Store(true)
		r.lastError, r.lastErrorAt = err.Error(), time.Now()
		g.log.Error("config reload refused; the running config stays", zap.String("why", why), zap.Error(err))
		return err
	}
	g.state.Store(next)
	g.startPools(next)
	r.reloads.Add(1)
	r.lastFailed.Store(false)
	r.lastSuccess.Store(time.Now().Unix())
	g.retire(cur, next)
	g.log.Info("config reloaded", zap.String("why", why), zap.Int("version", next.version),
		zap.String("config_hash", cfg.Hash))
	return nil
}

const reasonWatch = "file changed"

// restartOnly refuses a config that changes a setting the running gateway
// cannot (configs.RestartOnly), naming each with its file, line and key:
// applied silently at the next restart, a change would surprise whoever
// restarts; ignored silently, it would surprise whoever reloads.
func restartOnly(running, next *configs.Config) error {
	values := func(c *configs.Config) []string {
		shared := "none"
		if sh := c.Cache.Shared; sh != nil {
			shared = fmt.Sprintf("%+v", *sh)
		}
		return []string{strconv.Itoa(c.Server.MaxHeaderBytes), strconv.Quote(c.Server.ProbeListen),
			c.Server.IdleTimeout.String(), strconv.Itoa(c.Server.MaxConns), strconv.FormatBool(c.Server.ReduceMemory),
			strconv.FormatInt(c.Cache.MaxBytes, 10), strconv.Quote(c.Cache.PersistPath), shared}
	}
	was, now := values(running), values(next)
	var errs []error
	for i, key := range configs.RestartOnly {
		if was[i] != now[i] {
			errs = append(errs, next.ErrorAt(key, "changed from %v to %v: takes effect only at a restart (restore %v to reload the rest)", was[i], now[i], was[i]))
		}
	}
	return errors.Join(errs...)
}

// retire stops the previous pools' health checks (targets that stay keep
// theirs, in the new pools) and drains the targets the new state no longer
// uses, in the background: their in-flight requests finish, then idle
// connections close.
func (g *Gateway) retire(prev, next *state) {
	for name, p := range prev.pools {
		p.Stop()
		np := next.pools[name]
		for _, t := range upstream.Retired(p, np) {
			if np.Target(t.Addr()) == nil { // else its replacement took over its series
				g.metrics.unregisterTarget(name, t)
			}
			go t.Drain(2 * p.Timeout())
		}
	}
}
