package issuer

import (
	"sync"

	"github.com/valyala/fasthttp"
)

// maxIdempotencyKeys bounds the answers kept for Idempotency-Key; past it,
// new keys are not remembered (the simulation runs minutes, not days).
const maxIdempotencyKeys = 1 << 20

// idempotency keeps the first answer of each state-changing request that
// carried an Idempotency-Key, so that the same key sent again (a client's
// or a gateway's retry after a lost answer) gets that answer instead of
// acting twice, as a backend that honours the header must.
type idempotency struct {
	mu sync.Mutex // guards m
	m  map[string]*keptAnswer
}

// keptAnswer is the first answer of a key; done is closed once it is set,
// so that a repeat arriving while the first is served waits for it.
type keptAnswer struct {
	done        chan struct{}
	status      int
	contentType []byte
	body        []byte
}

// begin returns the key's kept answer and false when the key was seen
// before, else a new entry for the caller to fill and true. A nil entry
// means the store is full: serve the request without remembering it.
func (s *idempotency) begin(key []byte) (*keptAnswer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.m[string(key)]; a != nil {
		return a, false
	}
	if s.m == nil {
		s.m = map[string]*keptAnswer{}
	}
	if len(s.m) >= maxIdempotencyKeys {
		return nil, true
	}
	a := &keptAnswer{done: make(chan struct{})}
	s.m[string(key)] = a
	return a, true
}

// keep records resp as a's answer.
func (a *keptAnswer) keep(resp *fasthttp.Response) {
	a.status = resp.StatusCode()
	a.contentType = append([]byte(nil), resp.Header.ContentType()...)
	a.body = append([]byte(nil), resp.Body()...)
	close(a.done)
}

// replay writes a's answer, once it is set, into ctx.
func (a *keptAnswer) replay(ctx *fasthttp.RequestCtx) {
	<-a.done
	ctx.SetStatusCode(a.status)
	ctx.SetContentTypeBytes(a.contentType)
	ctx.SetBody(a.body)
	ctx.Response.Header.Set("Idempotent-Replay", "true")
}
