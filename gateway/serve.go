package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"shedgate/internal/deadlines"
	"shedgate/internal/listener"
)

// boundListener is a listener the gateway serves on, with the address it
// was configured with. Close is idempotent: a listener retired by a reload
// is closed once, and fasthttp closing it again on Shutdown is no error.
type boundListener struct {
	net.Listener
	configured string
	sweeper    *deadlines.Sweeper // nil: runtime timers
	conns      *connCap           // with sweeper: the cap on open connections
	retired    atomic.Bool
	once       sync.Once
	closeErr   error
}

func (l *boundListener) Close() error {
	l.once.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

// listeners holds what the gateway serves on; mu guards the fields.
type listeners struct {
	mu    sync.Mutex
	main  *boundListener
	admin *boundListener
	errc  chan error // a serving error on a live listener
}

// Serve serves the request path on ln and the admin endpoints on adminLn
// until Shutdown; a reload may move either to a new address. It returns
// the first serving error of a live listener; after Shutdown it returns nil.
func (g *Gateway) Serve(ln, adminLn net.Listener) error {
	cfg := g.state.Load().cfg
	g.lns.mu.Lock()
	g.lns.errc = make(chan error, 2)
	g.lns.main = g.serveOn(g.server, ln, cfg.Server.Listen)
	g.lns.admin = g.serveOn(g.admin, adminLn, cfg.Server.AdminListen)
	g.lns.mu.Unlock()
	if cfg.Cache.PersistPath != "" {
		go g.persistLoop(cfg.Cache.PersistEvery, g.stop)
	}
	go g.deadlines.Run(g.stop)
	select {
	case <-g.stop:
		return nil
	case err := <-g.lns.errc:
		if g.draining.Load() {
			return nil
		}
		return err
	}
}

func (g *Gateway) serveOn(s *fasthttp.Server, ln net.Listener, configured string) *boundListener {
	// Out of descriptors under a surge, the gateway pauses accepting;
	// fasthttp alone would end Serve, and the process with it.
	ll := &listener.Listener{Listener: ln, OnPause: g.acceptPaused}
	bl := &boundListener{Listener: ll, configured: configured}
	if s == g.server {
		bl.sweeper, bl.conns = g.deadlines, &g.conns
		ll.Reclaim = func() int { return g.conns.evict(g.deadlines) }
	}
	go func() {
		err := s.Serve(bl)
		if err != nil && !bl.retired.Load() && !g.draining.Load() {
			select {
			case g.lns.errc <- err:
			default:
			}
		}
	}()
	return bl
}

// acceptPaused logs, at most once a second, that accepting is paused.
func (g *Gateway) acceptPaused(err error, pause time.Duration) {
	if now := time.Now().UnixNano(); now-g.lastPauseLog.Load() > int64(time.Second) {
		g.lastPauseLog.Store(now)
		g.log.Warn("accept paused: out of file descriptors", zap.Error(err), zap.Duration("pause", pause))
	}
}

// rebind moves the listeners whose configured address changed: the new one
// is bound and served before the old one closes, so the gateway never stops
// accepting. Connections already open on the old one finish normally.
func (g *Gateway) rebind(listen, adminListen string) error {
	g.lns.mu.Lock()
	defer g.lns.mu.Unlock()
	if g.lns.main == nil {
		return nil // not serving yet
	}
	reusePort := g.state.Load().cfg.Server.ReusePort
	move := func(cur **boundListener, s *fasthttp.Server, addr string, reuse bool) error {
		if (*cur).configured == addr {
			return nil
		}
		ln, err := listener.Listen(addr, reuse)
		if err != nil {
			return fmt.Errorf("rebind %s: %w", addr, err)
		}
		old := *cur
		*cur = g.serveOn(s, ln, addr)
		old.retired.Store(true)
		old.Close() //nolint:errcheck
		return nil
	}
	if err := move(&g.lns.main, g.server, listen, reusePort); err != nil {
		return err
	}
	return move(&g.lns.admin, g.admin, adminListen, false)
}

// ServeProbes serves /healthz and /readyz alone on ln (server.probe_listen)
// until Shutdown.
func (g *Gateway) ServeProbes(ln net.Listener) {
	g.lns.mu.Lock()
	defer g.lns.mu.Unlock()
	g.probes = &fasthttp.Server{
		Handler: g.serveProbe, Name: "shedgate-probes", NoDefaultServerHeader: true,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, CloseOnShutdown: true,
		Logger: newServerLog(g.log, g.keyHash, "probes", g.metrics.set),
	}
	go g.probes.Serve(ln) //nolint:errcheck // ends with Shutdown
}

// DrainDelay is server.drain_delay of the config in force.
func (g *Gateway) DrainDelay() time.Duration { return g.state.Load().cfg.Server.DrainDelay }

// StartDrain begins a drain while the gateway keeps serving: /readyz
// answers 503, and every answer from now on closes its connection, so
// that balancers take the gateway out of rotation and clients reconnect
// elsewhere before Shutdown closes the listeners (server.drain_delay; see
// TestDrainDelayRefusesNothing).
func (g *Gateway) StartDrain() { g.draining.Store(true) }

// Shutdown drains: /readyz turns 503, listeners close, in-flight requests
// finish (idle keep-alive connections are closed), the cache is saved when
// it has a persist path, then the admin listener closes. It returns ctx's
// error if requests were still in flight when ctx ended.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.StartDrain()
	err := g.server.ShutdownWithContext(ctx)
	close(g.stop)
	for _, p := range g.state.Load().pools {
		p.Stop()
	}
	if g.state.Load().cfg.Cache.PersistPath != "" {
		g.saveCache("drain")
	}
	if g.fleet != nil {
		g.fleet.store.Close()
	}
	if aerr := g.admin.ShutdownWithContext(context.Background()); aerr != nil && err == nil {
		err = aerr
	}
	g.lns.mu.Lock()
	probes := g.probes
	g.lns.mu.Unlock()
	if probes != nil {
		probes.Shutdown() //nolint:errcheck // nothing in flight there matters now
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("drain: %d connections still open: %w", g.server.GetOpenConnectionsCount(), err)
	}
	return err
}
