package issuer

import (
	"errors"
	"fmt"
	"net"
	"shedgate/internal/listener"
	"sync"

	"github.com/valyala/fasthttp"
)

// serverState is what Serve, Close and the outage fault share.
type serverState struct {
	closed    chan struct{} // closed by Close
	closeOnce sync.Once
	errc      chan error // unexpected errors of the fasthttp servers
	wg        sync.WaitGroup
	conns     connSet // open connections of the main listener
	adminConn connSet // open connections of the admin listener

	mu      sync.Mutex // guards the fields below
	serving bool
	addr    string        // the main listener's address, to listen again after an outage
	ln      net.Listener  // the main listener; nil during an outage
	lnDone  chan struct{} // closed when the fasthttp server of ln returns
	adminLn net.Listener
}

func newServerState() serverState {
	return serverState{closed: make(chan struct{}), errc: make(chan error, 4)}
}

// Serve serves the main API on ln and the admin API on adminLn, and blocks
// until Close (then it returns nil) or until a listener fails (then it
// closes the issuer and returns the error). Serve takes ownership of both
// listeners. If the outage fault is set, ln is closed at once and its
// address listened on again when the fault is cleared, so ln must be a TCP
// listener whose address can be listened on again. Serve may be called once.
func (s *Issuer) Serve(ln, adminLn net.Listener) error {
	if err := s.startServing(ln, adminLn); err != nil {
		ln.Close()
		adminLn.Close()
		return err
	}
	var err error
	select {
	case <-s.srv.closed:
	case err = <-s.srv.errc:
		s.Close()
	}
	s.srv.wg.Wait()
	return err
}

// startServing starts the fasthttp servers of Serve.
func (s *Issuer) startServing(ln, adminLn net.Listener) error {
	s.faults.mu.Lock() // lock order: faults.mu, then srv.mu
	defer s.faults.mu.Unlock()
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	select {
	case <-s.srv.closed:
		return ErrClosed
	default:
	}
	if s.srv.serving {
		return errors.New("issuer: Serve called twice")
	}
	s.srv.serving = true
	s.srv.addr = ln.Addr().String()
	s.srv.adminLn = adminLn
	if s.faults.outage {
		ln.Close()
	} else {
		s.startMainLocked(ln)
	}
	// Started last: an answer on the admin listener means the main one is
	// in its initial state.
	s.goServe(&fasthttp.Server{Handler: s.AdminHandler, ConnState: s.srv.adminConn.track}, adminLn, nil)
	return nil
}

// startMainLocked serves the main API on ln; srv.mu is held.
func (s *Issuer) startMainLocked(ln net.Listener) {
	s.srv.ln = ln
	s.srv.lnDone = make(chan struct{})
	s.goServe(&fasthttp.Server{Handler: s.Handler, ConnState: s.srv.conns.track}, ln, s.srv.lnDone)
}

// goServe runs srv on ln in a goroutine, closing done (if not nil) when it
// returns.
func (s *Issuer) goServe(srv *fasthttp.Server, ln net.Listener, done chan struct{}) {
	srv.Name = "issuer-sim"
	srv.Logger = quietLogger{}
	s.srv.wg.Add(1)
	go func() {
		defer s.srv.wg.Done()
		if done != nil {
			defer close(done)
		}
		// Out of descriptors under a surge, a real backend slows down; it
		// does not exit: keep accepting once descriptors free up.
		if err := srv.Serve(&listener.Listener{Listener: ln}); err != nil {
			select {
			case s.srv.errc <- fmt.Errorf("issuer: serve %s: %w", ln.Addr(), err):
			default:
			}
		}
	}()
}

// setOutage starts or ends an outage of the main listener; faults.mu is
// held. Before Serve, it does nothing: Serve applies the outage.
func (s *Issuer) setOutage(on bool) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if !s.srv.serving {
		return nil
	}
	if on {
		s.stopMainLocked()
		return nil
	}
	select {
	case <-s.srv.closed:
		return ErrClosed
	default:
	}
	ln, err := net.Listen("tcp", s.srv.addr)
	if err != nil {
		return fmt.Errorf("issuer: listen again after outage: %w", err)
	}
	s.startMainLocked(ln)
	return nil
}

// stopMainLocked closes the main listener, waits for its server to stop
// accepting and closes its connections; srv.mu is held.
func (s *Issuer) stopMainLocked() {
	if s.srv.ln == nil {
		return
	}
	s.srv.ln.Close()
	<-s.srv.lnDone
	s.srv.ln = nil
	s.srv.conns.closeAll()
}

// Close stops the issuer: it closes both listeners and their connections,
// stops the workers, and drops every waiting request without an answer.
// It returns nil; later calls do nothing. An issuer cannot serve again.
func (s *Issuer) Close() error {
	s.srv.closeOnce.Do(func() {
		close(s.srv.closed)
		s.pool.close()
		s.srv.mu.Lock()
		defer s.srv.mu.Unlock()
		s.stopMainLocked()
		if s.srv.adminLn != nil {
			s.srv.adminLn.Close()
		}
		s.srv.adminConn.closeAll()
	})
	return nil
}

// connSet tracks a fasthttp server's open connections; its zero value is
// ready and it is safe for concurrent use.
type connSet struct {
	mu sync.Mutex // guards m
	m  map[net.Conn]struct{}
}

// track is a fasthttp.Server ConnState hook.
func (cs *connSet) track(c net.Conn, state fasthttp.ConnState) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch state {
	case fasthttp.StateNew:
		if cs.m == nil {
			cs.m = make(map[net.Conn]struct{})
		}
		cs.m[c] = struct{}{}
	case fasthttp.StateHijacked, fasthttp.StateClosed:
		delete(cs.m, c)
	}
}

// closeAll closes every tracked connection.
func (cs *connSet) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for c := range cs.m {
		c.Close()
		delete(cs.m, c)
	}
}

// quietLogger discards fasthttp's messages: per-connection errors are
// expected here (outages, dropped answers) and must not flood the output.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}
