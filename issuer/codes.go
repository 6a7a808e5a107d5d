package issuer

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash/maphash"
	"strconv"
	"sync"
	"time"
)

// CodeValidity is how long an issued code stays valid.
const CodeValidity = 30 * 24 * time.Hour

// codePrefix starts every code string: "v1.<payload>.<signature>", both
// parts base64url without padding.
const codePrefix = "v1."

// codeShards is the number of independently locked parts of the code store.
const codeShards = 64

// Errors of code verification; their texts go to the client after
// "invalid code: ".
var (
	errCodeMalformed = errors.New("malformed")
	errCodeSignature = errors.New("bad signature")
	errCodeUnknown   = errors.New("not issued here")
	errCodeReplaced  = errors.New("replaced by a newer code")
	errCodeExpired   = errors.New("expired")
	errReissuedToday = errors.New("already re-issued today")
)

// code is one issued code as the API reports it.
type code struct {
	ID        string
	Serial    int64
	Text      string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// codePayload is the signed part of a code.
type codePayload struct {
	ID     string `json:"id"`
	Serial int64  `json:"serial"`
	IAT    int64  `json:"iat"`
	EXP    int64  `json:"exp"`
}

// codeEntry is a person's current code and the last day (Unix days, UTC)
// it was re-issued, -1 for never.
type codeEntry struct {
	code
	reissueDay int64
}

// codeShard is one part of the code store.
type codeShard struct {
	mu sync.Mutex            // guards m and the entries it points to
	m  map[string]*codeEntry // by resident ID
}

// codeStore holds every person's current code and signs new ones. It is
// safe for concurrent use.
type codeStore struct {
	key    ed25519.PrivateKey
	seed   maphash.Seed
	shards [codeShards]codeShard
}

func newCodeStore(key ed25519.PrivateKey) *codeStore {
	s := &codeStore{key: key, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*codeEntry)
	}
	return s
}

func (s *codeStore) shard(id string) *codeShard {
	return &s.shards[maphash.String(s.seed, id)%codeShards]
}

// entryLocked returns id's entry, creating an empty one; sh.mu is held.
func (sh *codeShard) entryLocked(id string) *codeEntry {
	e := sh.m[id]
	if e == nil {
		e = &codeEntry{reissueDay: -1}
		sh.m[id] = e
	}
	return e
}

// get returns id's current code, issuing one when there is none or it
// expired; again reports that the code was issued before.
func (s *codeStore) get(id string, now time.Time) (c code, again bool) {
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.entryLocked(id)
	if e.Text == "" || !now.Before(e.ExpiresAt) {
		s.issueLocked(e, id, now)
		return e.code, false
	}
	return e.code, true
}

// reissue replaces id's code with a new one, or issues a first one. It
// returns errReissuedToday when id was re-issued on the same UTC day.
func (s *codeStore) reissue(id string, now time.Time) (code, error) {
	day := unixDay(now)
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.entryLocked(id)
	if e.reissueDay == day {
		return code{}, errReissuedToday
	}
	s.issueLocked(e, id, now)
	e.reissueDay = day
	return e.code, nil
}

// issueLocked gives e a new signed code with the next serial.
func (s *codeStore) issueLocked(e *codeEntry, id string, now time.Time) {
	now = now.UTC().Truncate(time.Second)
	e.ID = id
	e.Serial++
	e.IssuedAt = now
	e.ExpiresAt = now.Add(CodeValidity)
	e.Text = s.sign(codePayload{ID: id, Serial: e.Serial, IAT: now.Unix(), EXP: e.ExpiresAt.Unix()})
}

// sign returns the code string of p.
func (s *codeStore) sign(p codePayload) string {
	payload, err := json.Marshal(p)
	if err != nil {
		panic("BUG: marshal code payload: " + err.Error())
	}
	enc := base64.RawURLEncoding
	sig := ed25519.Sign(s.key, payload)
	b := make([]byte, 0, len(codePrefix)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(len(sig)))
	b = append(b, codePrefix...)
	b = enc.AppendEncode(b, payload)
	b = append(b, '.')
	b = enc.AppendEncode(b, sig)
	return string(b)
}

// verify checks text's signature and that it is its person's current,
// unexpired code. It returns the payload or one of the errCode errors.
func (s *codeStore) verify(text []byte, now time.Time) (codePayload, error) {
	p, err := parseCode(text, s.key.Public().(ed25519.PublicKey))
	if err != nil {
		return p, err
	}
	sh := s.shard(p.ID)
	sh.mu.Lock()
	e := sh.m[p.ID]
	var serial int64
	if e != nil {
		serial = e.Serial
	}
	sh.mu.Unlock()
	switch {
	case serial == 0 || p.Serial > serial:
		return p, errCodeUnknown
	case p.Serial < serial:
		return p, errCodeReplaced
	case now.Unix() >= p.EXP:
		return p, errCodeExpired
	}
	return p, nil
}

// parseCode decodes a code string and verifies its signature with pub.
func parseCode(text []byte, pub ed25519.PublicKey) (codePayload, error) {
	var p codePayload
	rest, ok := bytes.CutPrefix(text, []byte(codePrefix))
	if !ok {
		return p, errCodeMalformed
	}
	payloadB64, sigB64, ok := bytes.Cut(rest, []byte{'.'})
	if !ok {
		return p, errCodeMalformed
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.AppendDecode(nil, payloadB64)
	sig, err2 := enc.AppendDecode(nil, sigB64)
	if err1 != nil || err2 != nil || len(sig) != ed25519.SignatureSize {
		return p, errCodeMalformed
	}
	if !ed25519.Verify(pub, payload, sig) {
		return p, errCodeSignature
	}
	if err := json.Unmarshal(payload, &p); err != nil || p.ID == "" {
		return p, errCodeMalformed
	}
	return p, nil
}

// unixDay returns the number of whole UTC days from the Unix epoch to t.
func unixDay(t time.Time) int64 {
	sec := t.Unix()
	day := sec / 86400
	if sec%86400 < 0 {
		day--
	}
	return day
}

// appendCodeJSON appends the API's JSON form of c.
func appendCodeJSON(b []byte, c code) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, c.ID)
	b = append(b, `,"code":`...)
	b = strconv.AppendQuote(b, c.Text)
	b = append(b, `,"serial":`...)
	b = strconv.AppendInt(b, c.Serial, 10)
	b = append(b, `,"issued_at":"`...)
	b = c.IssuedAt.AppendFormat(b, time.RFC3339)
	b = append(b, `","expires_at":"`...)
	b = c.ExpiresAt.AppendFormat(b, time.RFC3339)
	return append(b, `"}`...)
}
