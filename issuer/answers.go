package issuer

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/valyala/fasthttp"

	"shedgate/residentid"
)

// Limits of request fields.
const maxVenueLen = 64

// checkID answers 400 and returns false if id is not a valid resident ID.
func checkID(ctx *fasthttp.RequestCtx, id []byte, now time.Time) bool {
	if err := residentid.ValidAt(id, now); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// writeCode answers 200 with c and a max-age of its validity left.
func writeCode(ctx *fasthttp.RequestCtx, c code, now time.Time) {
	setMaxAge(ctx, int64(c.ExpiresAt.Sub(now)/time.Second))
	writeJSONBytes(ctx, fasthttp.StatusOK, appendCodeJSON(nil, c))
}

// answerCode: GET /v1/codes/{id}, get-or-create.
func (s *Issuer) answerCode(ctx *fasthttp.RequestCtx, id []byte, now time.Time) {
	if checkID(ctx, id, now) {
		c, again := s.codes.get(string(id), now)
		if again {
			s.stats.codesAgain.Add(1)
		}
		writeCode(ctx, c, now)
	}
}

// answerReissue: POST /v1/codes/{id}/reissue.
func (s *Issuer) answerReissue(ctx *fasthttp.RequestCtx, id []byte, now time.Time) {
	if !checkID(ctx, id, now) {
		return
	}
	c, err := s.codes.reissue(string(id), now)
	if err != nil {
		writeError(ctx, fasthttp.StatusConflict, err.Error())
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	writeJSONBytes(ctx, fasthttp.StatusOK, appendCodeJSON(nil, c))
}

// answerRelative: GET /v1/codes/{id}/relatives/{rid}: rid's code when rid is
// under 18 or 60 and over, else pending review.
func (s *Issuer) answerRelative(ctx *fasthttp.RequestCtx, id, rid []byte, now time.Time) {
	if !checkID(ctx, id, now) || !checkID(ctx, rid, now) {
		return
	}
	birth, _ := residentid.Birth(rid)
	if age := ageAt(birth, now); age < 18 || age >= 60 {
		c, _ := s.codes.get(string(rid), now) // a relative's code: not counted in CodesAgain
		writeCode(ctx, c, now)
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	writeJSONBytes(ctx, fasthttp.StatusAccepted, []byte(`{"status":"pending_review"}`))
}

// scanRequest is the body of POST /v1/scans.
type scanRequest struct {
	Code     string `json:"code"`
	Site     string `json:"site"`
	SampleID string `json:"sample_id"`
}

// scanAnswer is the answer to a registered scan.
type scanAnswer struct {
	Registered bool   `json:"registered"`
	SampleID   string `json:"sample_id"`
}

// answerScan: POST /v1/scans registers one sample per valid request; a
// sample_id registered before counts as a duplicate unless the request was
// already counted by its X-Request-Id (dup).
func (s *Issuer) answerScan(ctx *fasthttp.RequestCtx, dup bool, now time.Time) {
	var req scanRequest
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "malformed JSON body")
		return
	}
	if req.Code == "" {
		writeError(ctx, fasthttp.StatusBadRequest, "missing code")
		return
	}
	if _, err := s.codes.verify([]byte(req.Code), now); err != nil {
		writeError(ctx, fasthttp.StatusForbidden, "invalid code: "+err.Error())
		return
	}
	s.stats.scans.Add(1)
	if req.SampleID != "" && s.stats.samples.add([]byte(req.SampleID)) && !dup {
		s.stats.duplicates.Add(1)
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	writeJSON(ctx, fasthttp.StatusOK, scanAnswer{Registered: true, SampleID: req.SampleID})
}

// keysAnswer is the answer of GET /v1/keys.
type keysAnswer struct {
	Alg       string `json:"alg"`
	PublicKey string `json:"public_key"` // standard base64
}

// answerKeys: GET /v1/keys.
func (s *Issuer) answerKeys(ctx *fasthttp.RequestCtx) {
	setMaxAge(ctx, 300)
	writeJSON(ctx, fasthttp.StatusOK, keysAnswer{Alg: "Ed25519", PublicKey: base64.StdEncoding.EncodeToString(s.pub)})
}

// healthAnswer is the answer of GET /v1/health/{id} and of a check-in.
type healthAnswer struct {
	ID            string `json:"id"`
	Venue         string `json:"venue,omitempty"`
	Status        string `json:"status"`
	UnveiledUntil string `json:"unveiled_until,omitempty"` // RFC 3339
}

// answerHealth: GET /v1/health/{id}.
func (s *Issuer) answerHealth(ctx *fasthttp.RequestCtx, id []byte, now time.Time) {
	if !checkID(ctx, id, now) {
		return
	}
	a := healthAnswer{ID: string(id), Status: healthStatus(id)}
	if until, ok := s.venues.unveiledUntil(a.ID, now); ok {
		a.UnveiledUntil = until.Format(time.RFC3339)
	}
	setMaxAge(ctx, HealthMaxAge)
	writeJSON(ctx, fasthttp.StatusOK, a)
}

// checkinRequest is the body of POST /v1/venues/{venue}/checkins.
type checkinRequest struct {
	ID string `json:"id"`
}

// answerCheckin: POST /v1/venues/{venue}/checkins unveils the person's
// health code for UnveilFor.
func (s *Issuer) answerCheckin(ctx *fasthttp.RequestCtx, venue []byte, now time.Time) {
	if len(venue) > maxVenueLen {
		writeError(ctx, fasthttp.StatusBadRequest, "venue name too long")
		return
	}
	var req checkinRequest
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "malformed JSON body")
		return
	}
	if !checkID(ctx, []byte(req.ID), now) {
		return
	}
	until := s.venues.checkin(req.ID, now)
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	writeJSON(ctx, fasthttp.StatusOK, healthAnswer{
		ID:            req.ID,
		Venue:         string(venue),
		Status:        healthStatus([]byte(req.ID)),
		UnveiledUntil: until.Format(time.RFC3339),
	})
}

// ageAt returns the age in whole years at now of a person born at birth.
func ageAt(birth, now time.Time) int {
	now = now.UTC()
	age := now.Year() - birth.Year()
	if now.Month() < birth.Month() || now.Month() == birth.Month() && now.Day() < birth.Day() {
		age--
	}
	return age
}
