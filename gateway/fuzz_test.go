package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzRouter: any method and path either match no route or match one whose
// parameters are non-empty sub-slices of the path without a '/', and whose
// key decodes back into exactly those parameters (the encoding is
// unambiguous).
func FuzzRouter(f *testing.F) {
	for _, s := range [][2]string{
		{"GET", "/v1/codes/11010519491231002X"}, {"GET", "/v1/codes/K1:K2/relatives/K3"},
		{"GET", "/v1/codes/K1/relatives/K2:K3"}, {"POST", "/v1/codes//reissue"}, {"DELETE", "/v1/"},
		{"GET", ""}, {"GET", "//"}, {"TRACE", "/v1/codes/a/relatives/b/c"}, {"GET", "/v1/codes/\x00\xff"},
	} {
		f.Add(s[0], s[1])
	}
	r := testRouter(f)
	f.Fuzz(func(t *testing.T, method, path string) {
		var m match
		p := []byte(path)
		if !r.lookup([]byte(method), p, &m) {
			return
		}
		for i := range m.nparams {
			v := m.params[i]
			if len(v) == 0 || bytes.IndexByte(v, '/') >= 0 || !bytes.Contains(p, v) {
				t.Fatalf("%s %q: param %d = %q; want a non-empty segment of the path", method, path, i, v)
			}
		}
		key := m.appendKey(nil)
		var got [][]byte
		for _, part := range m.route.key {
			if part.param < 0 {
				if !bytes.HasPrefix(key, []byte(part.literal)) {
					t.Fatalf("%s %q: key %q lacks literal %q", method, path, key, part.literal)
				}
				key = key[len(part.literal):]
				continue
			}
			n, w := binary.Uvarint(key)
			if w <= 0 || uint64(len(key)-w) < n {
				t.Fatalf("%s %q: key %q does not decode", method, path, m.appendKey(nil))
			}
			got = append(got, key[w:w+int(n)])
			key = key[w+int(n):]
			if want := m.params[part.param]; !bytes.Equal(got[len(got)-1], want) {
				t.Fatalf("%s %q: key decodes to %q; want %q", method, path, got[len(got)-1], want)
			}
		}
		if len(key) != 0 {
			t.Fatalf("%s %q: %d bytes left after decoding the key", method, path, len(key))
		}
	})
}

// FuzzStripHops: whatever headers a request carries, none that is
// hop-by-hop survives stripHops: the fixed list, Proxy-*, and every name
// any Connection line lists.
func FuzzStripHops(f *testing.F) {
	for _, s := range []string{
		"Connection: X-A\r\nConnection: X-B, close\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n",
		"Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nKeep-Alive: 5\r\n",
		"Proxy-Authorization: Basic x\r\nProxy-Foo: y\r\nTE: trailers\r\nTrailer: X\r\n",
		"Connection: " + strings.Repeat("X-T, ", 40) + "X-Last\r\nX-Last: 1\r\nX-T: 2\r\n",
		"Connection: ,,,\r\nConnection:\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, headers string) {
		var req fasthttp.Request
		raw := "GET / HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n"
		if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return // not a request fasthttp would serve
		}
		var listed headerNames
		for k, v := range req.Header.All() {
			if strings.EqualFold(string(k), "Connection") {
				collectConnectionTokens(v, &listed)
			}
		}
		var names headerNames
		stripHops(&req.Header, &names)
		for k := range req.Header.All() {
			for _, h := range hopHeaders {
				if strings.EqualFold(string(k), h) {
					t.Fatalf("%q: %s survived", headers, k)
				}
			}
			if hasProxyPrefix(k) {
				t.Fatalf("%q: %s survived", headers, k)
			}
			listed.each(func(name []byte) {
				if bytes.EqualFold(k, name) {
					t.Fatalf("%q: %s, listed by Connection, survived", headers, k)
				}
			})
		}
	})
}

// scanHeaders finds what looking each header up finds: forwarding headers
// and credentials in any case, and errs only towards the careful path.
func TestScanHeadersAgreesWithLookups(t *testing.T) {
	for _, tc := range []struct {
		headers            string
		forwarding, credit bool
	}{
		{"Accept: */*\r\n", false, false},
		{"x-forwarded-for: 1.2.3.4\r\n", true, false},
		{"X-FORWARDED-HOST: evil\r\n", true, false},
		{"Forwarded: for=1.2.3.4\r\n", true, false},
		{"X-Request-Id: abc\r\n", true, false},
		{"authorization: Bearer x\r\n", false, true},
		{"COOKIE: a=b\r\n", false, true},
		{"Trailer: X-Other\r\nTransfer-Encoding: chunked\r\n", true, false}, // conservative
		{"X-Forward: no\r\nCookies-Policy: x\r\n", false, true},             // a false positive, safe
	} {
		var req fasthttp.Request
		raw := "POST / HTTP/1.1\r\nHost: x\r\n" + tc.headers + "\r\n"
		if strings.Contains(tc.headers, "chunked") {
			raw += "0\r\nX-Other: 1\r\n\r\n"
		}
		if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			t.Fatalf("%q: %v", tc.headers, err)
		}
		f := scanHeaders(&req.Header)
		if f&flagRawKnown == 0 {
			t.Fatalf("%q: raw lines not seen", tc.headers)
		}
		if got := f&flagForwarding != 0; got != tc.forwarding {
			t.Errorf("%q: forwarding %v; want %v", tc.headers, got, tc.forwarding)
		}
		if got := hasCredentials(&req.Header, f); got != tc.credit {
			t.Errorf("%q: credentials %v; want %v", tc.headers, got, tc.credit)
		}
	}
}

func TestVaryEncoding(t *testing.T) {
	req := func(headers string) *fasthttp.RequestHeader {
		var r fasthttp.Request
		if err := r.Read(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n"))); err != nil {
			t.Fatal(err)
		}
		return &r.Header
	}
	zh := req("Accept-Language: zh\r\nAccept-Encoding: gzip\r\n")
	enc, ok := appendVary(nil, []byte("Accept-Language, accept-encoding"), zh)
	if !ok {
		t.Fatal("two named fields: not shareable")
	}
	if !varyMatches(enc, req("accept-encoding: gzip\r\nACCEPT-LANGUAGE: zh\r\n")) {
		t.Error("same values in another case and order: no match")
	}
	for _, h := range []string{"Accept-Language: en\r\nAccept-Encoding: gzip\r\n", "Accept-Encoding: gzip\r\n", ""} {
		if varyMatches(enc, req(h)) {
			t.Errorf("%q matches an entry for zh+gzip", h)
		}
	}
	if _, ok := appendVary(nil, []byte("Accept, *"), zh); ok {
		t.Error(`Vary "*": shareable`)
	}
	if _, ok := appendVary(nil, []byte("a,b,c,d,e,f,g,h,i"), zh); ok {
		t.Errorf("%d fields: shareable; want at most %d", 9, maxVaryFields)
	}
	if !raceEnabled {
		if n := testing.AllocsPerRun(100, func() { varyMatches(enc, zh) }); n != 0 {
			t.Errorf("varyMatches allocates %v times", n)
		}
	}
}
