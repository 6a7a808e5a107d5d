package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Setup limits: tries per key and the whole setup's time.
const (
	setupTries    = 8
	setupDeadline = 60 * time.Second
	// setupGiveUp is how many keys may fail before any succeeds.
	setupGiveUp = 8
)

// codePool is the keys of one template that have a code, and their codes,
// by pool index.
type codePool struct {
	keys  []string
	codes []string
}

// SetupReport says what the setup step fetched.
type SetupReport struct {
	Codes    int     `json:"codes"`    // codes fetched, all templates
	Failed   int     `json:"failed"`   // keys left out of their pool
	Requests int     `json:"requests"` // setup requests, not counted in the results
	Seconds  float64 `json:"seconds"`
	Target   string  `json:"target,omitempty"`
}

// fetcher fetches codes for the setup step.
type fetcher struct {
	hc      doer
	tgt     target
	st      Setup
	path    tmpl
	timeout time.Duration
	today   time.Time

	mu       sync.Mutex // guards requests
	requests int
}

// fetchPools fetches a code pool for every template of p that needs one;
// the result is indexed like p.tmplList (nil for the others).
func fetchPools(ctx context.Context, f *fetcher, p *plan, rep *SetupReport) ([]*codePool, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, setupDeadline)
	defer cancel()
	pools := make([]*codePool, len(p.tmplList))
	for i, t := range p.tmplList {
		if !t.needsCode {
			continue
		}
		pool := f.fetch(ctx, t.key)
		rep.Failed += int(t.key.population) - len(pool.keys)
		if len(pool.keys) == 0 {
			return nil, fmt.Errorf("setup: no code could be fetched for template %s from %s%s", t.name, f.tgt.url, f.st.Path)
		}
		rep.Codes += len(pool.keys)
		pools[i] = pool
	}
	rep.Requests, rep.Seconds, rep.Target = f.requests, time.Since(start).Seconds(), f.tgt.url
	return pools, nil
}

// fetch gets the codes of g's keys 0 to population-1, f.st.Concurrency at
// a time, and returns those it got, in index order.
func (f *fetcher) fetch(ctx context.Context, g *keyGen) *codePool {
	n := int(g.population)
	keys, codes := make([]string, n), make([]string, n)
	ctx, giveUp := context.WithCancel(ctx)
	defer giveUp()
	sem := make(chan struct{}, f.st.Concurrency)
	var wg sync.WaitGroup
	var got, failed atomic.Int64
	for i := range n {
		sem <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			keys[i] = string(g.appendKey(nil, int64(i), f.today))
			if codes[i] = f.code(ctx, keys[i]); codes[i] != "" {
				got.Add(1)
			} else if failed.Add(1) >= setupGiveUp && got.Load() == 0 {
				giveUp() // nothing works: the target is down or the path wrong
			}
		}()
	}
	wg.Wait()
	pool := &codePool{}
	for i := range n {
		if codes[i] != "" {
			pool.keys = append(pool.keys, keys[i])
			pool.codes = append(pool.codes, codes[i])
		}
	}
	return pool
}

// code fetches key's code, trying again after a pause on failure; "" when
// it cannot.
func (f *fetcher) code(ctx context.Context, key string) string {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURIBytes(f.path.appendTo(nil, &values{key: []byte(key)}))
	req.Header.SetHost(f.tgt.host)
	for try := range setupTries {
		f.mu.Lock()
		f.requests++
		f.mu.Unlock()
		err := f.hc.DoTimeout(req, resp, f.timeout)
		if err == nil && resp.StatusCode() == fasthttp.StatusOK {
			if c := jsonField(resp.Body(), f.st.Field); c != "" {
				return c
			}
			return "" // answered, but no code: trying again will not help
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(time.Duration(try+1) * 50 * time.Millisecond):
		}
	}
	return ""
}

// jsonField returns the string field name of the JSON object body, or "".
func jsonField(body []byte, name string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(m[name], &s) != nil {
		return ""
	}
	return s
}
