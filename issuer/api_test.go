package issuer

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"shedgate/residentid"
)

// codeJSON is the answer of the code operations.
type codeJSON struct {
	ID        string `json:"id"`
	Code      string `json:"code"`
	Serial    int64  `json:"serial"`
	IssuedAt  string `json:"issued_at"`
	ExpiresAt string `json:"expires_at"`
}

// testID is a valid resident ID of a person born in 1949.
const testID = "11010519491231002X"

// idAged returns a valid ID of a person aged years (plus a few days) at now.
func idAged(now time.Time, years int) string {
	return residentid.Make(nil, now.AddDate(-years, 0, -3))
}

func getCode(t *testing.T, ti *testIssuer, id string) (codeJSON, string) {
	t.Helper()
	status, hdr, body := ti.do(t, "GET", "/v1/codes/"+id, "")
	if status != 200 {
		t.Fatalf("GET code: got %d %s; want 200", status, body)
	}
	var c codeJSON
	mustJSON(t, body, &c)
	return c, hdr.Get("Cache-Control")
}

func scan(t *testing.T, ti *testIssuer, code, sample string, hdr ...string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"code": code, "site": "site-1", "sample_id": sample})
	status, _, b := ti.do(t, "POST", "/v1/scans", string(body), hdr...)
	return status, b
}

func TestCodeGetOrCreate(t *testing.T) {
	ti := startIssuer(t, Config{})
	c1, cc1 := getCode(t, ti, testID)
	if c1.Serial != 1 || c1.ID != testID || !strings.HasPrefix(c1.Code, "v1.") {
		t.Errorf("first code: got %+v; want serial 1, id %s, a v1. code", c1, testID)
	}
	if want := "max-age=2592000"; cc1 != want {
		t.Errorf("Cache-Control: got %q; want %q", cc1, want)
	}
	ti.clock.Advance(time.Hour)
	c2, cc2 := getCode(t, ti, testID)
	if c2 != c1 {
		t.Errorf("second code: got %+v; want %+v", c2, c1)
	}
	if want := "max-age=2588400"; cc2 != want {
		t.Errorf("Cache-Control an hour later: got %q; want %q", cc2, want)
	}
	if st := ti.stats(t); st.CodesAgain != 1 {
		t.Errorf("codes_again after one code asked for twice: %d; want 1", st.CodesAgain)
	}
	ti.clock.Advance(CodeValidity)
	c3, _ := getCode(t, ti, testID)
	if c3.Serial != 2 || c3.Code == c1.Code {
		t.Errorf("code after expiry: got serial %d; want a new code, serial 2", c3.Serial)
	}
	if st := ti.stats(t); st.CodesAgain != 1 {
		t.Errorf("codes_again after a code issued anew on expiry: %d; want still 1", st.CodesAgain)
	}
	if got := ti.stats(t).Ops["code"]; got != 3 {
		t.Errorf("ops.code: got %d; want 3", got)
	}
}

func TestReissue(t *testing.T) {
	ti := startIssuer(t, Config{})
	old, _ := getCode(t, ti, testID)
	status, hdr, body := ti.do(t, "POST", "/v1/codes/"+testID+"/reissue", "")
	if status != 200 {
		t.Fatalf("re-issue: got %d %s; want 200", status, body)
	}
	var fresh codeJSON
	mustJSON(t, body, &fresh)
	if fresh.Serial != 2 || fresh.Code == old.Code {
		t.Errorf("re-issued code: got serial %d; want a new code, serial 2", fresh.Serial)
	}
	if got := hdr.Get("Cache-Control"); got != "no-store" {
		t.Errorf("re-issue Cache-Control: got %q; want no-store", got)
	}
	if status, body := scan(t, ti, old.Code, "s1"); status != 403 || !strings.Contains(body, "replaced") {
		t.Errorf("scan of the old code: got %d %s; want 403 replaced", status, body)
	}
	if status, body := scan(t, ti, fresh.Code, "s2"); status != 200 {
		t.Errorf("scan of the new code: got %d %s; want 200", status, body)
	}
	if c, _ := getCode(t, ti, testID); c != fresh {
		t.Errorf("code after re-issue: got %+v; want %+v", c, fresh)
	}
	status, _, body = ti.do(t, "POST", "/v1/codes/"+testID+"/reissue", "")
	if want := `{"error":"already re-issued today"}`; status != 409 || body != want {
		t.Errorf("second re-issue: got %d %s; want 409 %s", status, body, want)
	}
	ti.clock.Advance(24 * time.Hour)
	if status, _, body := ti.do(t, "POST", "/v1/codes/"+testID+"/reissue", ""); status != 200 || !strings.Contains(body, `"serial":3`) {
		t.Errorf("re-issue the next day: got %d %s; want 200 serial 3", status, body)
	}
}

func TestReissueWithoutCode(t *testing.T) {
	ti := startIssuer(t, Config{})
	status, _, body := ti.do(t, "POST", "/v1/codes/"+testID+"/reissue", "")
	if status != 200 || !strings.Contains(body, `"serial":1`) {
		t.Errorf("re-issue without a code: got %d %s; want 200 serial 1", status, body)
	}
}

func TestScanExpiredCode(t *testing.T) {
	ti := startIssuer(t, Config{})
	c, _ := getCode(t, ti, testID)
	ti.clock.Advance(CodeValidity)
	if status, body := scan(t, ti, c.Code, "s1"); status != 403 || !strings.Contains(body, "expired") {
		t.Errorf("scan of an expired code: got %d %s; want 403 expired", status, body)
	}
}

func TestRelatives(t *testing.T) {
	ti := startIssuer(t, Config{})
	now := ti.clock.Now()
	f := func(rid string, wantStatus int, wantBody string) {
		t.Helper()
		status, _, body := ti.do(t, "GET", "/v1/codes/"+testID+"/relatives/"+rid, "")
		if status != wantStatus || !strings.Contains(body, wantBody) {
			t.Errorf("relative %s: got %d %s; want %d with %s", rid, status, body, wantStatus, wantBody)
		}
	}
	f(idAged(now, 10), 200, `"serial":1`)
	f(idAged(now, 17), 200, `"code":"v1.`)
	f(idAged(now, 18), 202, `{"status":"pending_review"}`)
	f(idAged(now, 30), 202, `{"status":"pending_review"}`)
	f(idAged(now, 59), 202, `{"status":"pending_review"}`)
	f(idAged(now, 60), 200, `"code":"v1.`)
	f(idAged(now, 85), 200, `"code":"v1.`)
	f("110105194912310021", 400, "invalid resident id: wrong check digit")
	// The relative's code is the same one they get themselves.
	child := idAged(now, 8)
	_, _, viaRelative := ti.do(t, "GET", "/v1/codes/"+testID+"/relatives/"+child, "")
	_, _, own := ti.do(t, "GET", "/v1/codes/"+child, "")
	if viaRelative != own {
		t.Errorf("relative's code: got %s; want their own %s", viaRelative, own)
	}
}

func TestScanCountsAndDuplicates(t *testing.T) {
	ti := startIssuer(t, Config{})
	c, _ := getCode(t, ti, testID)
	for _, sample := range []string{"a", "b", "c"} {
		if status, body := scan(t, ti, c.Code, sample); status != 200 || body != `{"registered":true,"sample_id":"`+sample+`"}` {
			t.Fatalf("scan %s: got %d %s; want 200 registered", sample, status, body)
		}
	}
	check := func(wantScans, wantDups int64) {
		t.Helper()
		st := ti.stats(t)
		if st.Scans != wantScans || st.Duplicates != wantDups {
			t.Errorf("scans, duplicates: got %d, %d; want %d, %d", st.Scans, st.Duplicates, wantScans, wantDups)
		}
	}
	check(3, 0)
	scan(t, ti, c.Code, "a") // same sample again: registered again, a duplicate
	check(4, 1)
	scan(t, ti, c.Code, "d", "X-Request-Id", "r1")
	scan(t, ti, c.Code, "e", "X-Request-Id", "r1") // a retry by request ID
	check(6, 2)
	scan(t, ti, c.Code, "d", "X-Request-Id", "r1") // both: counted once
	check(7, 3)
	if status, body := scan(t, ti, "v1.garbage.garbage", "f"); status != 403 || !strings.Contains(body, `"error":"invalid code: `) {
		t.Errorf("scan of a garbage code: got %d %s; want 403", status, body)
	}
	for _, body := range []string{"", "{", `{"code":""}`, `[1]`} {
		if status, _, b := ti.do(t, "POST", "/v1/scans", body); status != 400 || !strings.Contains(b, `"error":`) {
			t.Errorf("scan body %q: got %d %s; want 400 with an error", body, status, b)
		}
	}
	check(7, 3)
	// Reissue and check-in repeats by request ID are duplicates too.
	ti.do(t, "POST", "/v1/codes/"+testID+"/reissue", "", "X-Request-Id", "r2")
	ti.do(t, "POST", "/v1/codes/"+testID+"/reissue", "", "X-Request-Id", "r2")
	check(7, 4)
	ti.do(t, "GET", "/v1/codes/"+testID, "", "X-Request-Id", "r2") // idempotent: not counted
	check(7, 4)
}

func TestSignatureVerifiesWithPublishedKey(t *testing.T) {
	ti := startIssuer(t, Config{})
	status, _, body := ti.do(t, "GET", "/v1/keys", "")
	var keys struct {
		Alg       string `json:"alg"`
		PublicKey string `json:"public_key"`
	}
	mustJSON(t, body, &keys)
	pub, err := base64.StdEncoding.DecodeString(keys.PublicKey)
	if status != 200 || keys.Alg != "Ed25519" || err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("GET /v1/keys: got %d %s; want 200 with an Ed25519 key", status, body)
	}
	c, _ := getCode(t, ti, testID)
	parts := strings.Split(c.Code, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		t.Fatalf("code: got %q; want v1.<payload>.<signature>", c.Code)
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || !ed25519.Verify(pub, payload, sig) {
		t.Fatalf("signature of %q does not verify with the published key", c.Code)
	}
	var p codePayload
	mustJSON(t, string(payload), &p)
	want := codePayload{ID: testID, Serial: 1, IAT: ti.clock.Now().Unix(), EXP: ti.clock.Now().Add(CodeValidity).Unix()}
	if p != want {
		t.Errorf("payload: got %+v; want %+v", p, want)
	}
}

func TestKeySeedSharesKey(t *testing.T) {
	a, _ := New(Config{KeySeed: []byte("shared seed")})
	b, _ := New(Config{KeySeed: []byte("shared seed")})
	c, _ := New(Config{})
	defer a.Close()
	defer b.Close()
	defer c.Close()
	if !a.publicKey().Equal(b.publicKey()) {
		t.Errorf("same seed: got different keys")
	}
	if a.publicKey().Equal(c.publicKey()) {
		t.Errorf("no seed: got the seeded key")
	}
}

func TestHealthAndCheckin(t *testing.T) {
	ti := startIssuer(t, Config{})
	status, hdr, body := ti.do(t, "GET", "/v1/health/"+testID, "")
	var h healthAnswer
	mustJSON(t, body, &h)
	if status != 200 || h.Status != healthStatus([]byte(testID)) || h.UnveiledUntil != "" {
		t.Errorf("health: got %d %s; want 200, status, no unveiled_until", status, body)
	}
	if got := hdr.Get("Cache-Control"); got != "max-age=60" {
		t.Errorf("health Cache-Control: got %q; want max-age=60", got)
	}
	status, _, body = ti.do(t, "POST", "/v1/venues/library-3/checkins", `{"id":"`+testID+`"}`)
	want := ti.clock.Now().Add(UnveilFor).Format(time.RFC3339)
	mustJSON(t, body, &h)
	if status != 200 || h.UnveiledUntil != want || h.Venue != "library-3" {
		t.Errorf("check-in: got %d %s; want 200 unveiled until %s", status, body, want)
	}
	ti.clock.Advance(9 * time.Minute)
	if _, _, body = ti.do(t, "GET", "/v1/health/"+testID, ""); !strings.Contains(body, `"unveiled_until":"`+want) {
		t.Errorf("health 9 min after check-in: got %s; want unveiled until %s", body, want)
	}
	ti.clock.Advance(2 * time.Minute)
	if _, _, body = ti.do(t, "GET", "/v1/health/"+testID, ""); strings.Contains(body, "unveiled_until") {
		t.Errorf("health 11 min after check-in: got %s; want no unveiled_until", body)
	}
	if status, _, body = ti.do(t, "POST", "/v1/venues/v/checkins", `{"id":"123"}`); status != 400 {
		t.Errorf("check-in with a bad ID: got %d %s; want 400", status, body)
	}
}

func TestHealthDistribution(t *testing.T) {
	counts := map[string]int{}
	start := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10000 {
		counts[healthStatus([]byte(residentid.Make(nil, start.AddDate(0, 0, i))))]++
	}
	if counts["green"] < 8700 || counts["yellow"] < 600 || counts["red"] < 100 || counts["red"] > 350 {
		t.Errorf("health statuses of 10000 IDs: got %v; want about 90%% green, 8%% yellow, 2%% red", counts)
	}
}

func TestNotFoundAndBadInput(t *testing.T) {
	ti := startIssuer(t, Config{})
	f := func(method, path string, wantStatus int, wantBody string) {
		t.Helper()
		status, hdr, body := ti.do(t, method, path, "")
		if status != wantStatus || body != wantBody {
			t.Errorf("%s %s: got %d %s; want %d %s", method, path, status, body, wantStatus, wantBody)
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: got Content-Type %q; want application/json", method, path, ct)
		}
	}
	f("GET", "/", 404, `{"error":"not found"}`)
	f("GET", "/v1/codes", 404, `{"error":"not found"}`)
	f("GET", "/v1/codes/"+testID+"/", 404, `{"error":"not found"}`)
	f("GET", "/v1/codes/"+testID+"/other", 404, `{"error":"not found"}`)
	f("POST", "/v1/codes/"+testID, 405, `{"error":"method not allowed"}`)
	f("GET", "/v1/scans", 405, `{"error":"method not allowed"}`)
	f("GET", "/v1/codes/110105194912310021", 400, `{"error":"invalid resident id: wrong check digit"}`)
	f("GET", "/v1/health/12345", 400, `{"error":"invalid resident id: length 5, want 18"}`)
	if got := ti.stats(t).Ops["other"]; got != 6 {
		t.Errorf("ops.other: got %d; want 6", got)
	}
}

// A scan with an Idempotency-Key seen before gets the first answer and
// registers nothing; the drop fault applies a scan and loses its answer.
func TestIdempotencyKeyAndDroppedAnswers(t *testing.T) {
	ti := startIssuer(t, Config{})
	c, _ := getCode(t, ti, idAged(ti.clock.Now(), 30))
	s1, b1 := scan(t, ti, c.Code, "k-1", "Idempotency-Key", "key-1")
	body, _ := json.Marshal(map[string]string{"code": c.Code, "site": "site-1", "sample_id": "k-1"})
	s2, hdr, b2 := ti.do(t, "POST", "/v1/scans", string(body), "Idempotency-Key", "key-1")
	if s1 != 200 || s2 != 200 || b1 != b2 || hdr.Get("Idempotent-Replay") != "true" {
		t.Fatalf("same key twice: %d %q, %d %q (replay %q); want the first answer again", s1, b1, s2, b2, hdr.Get("Idempotent-Replay"))
	}
	if st := ti.stats(t); st.Scans != 1 || st.IdempotentReplays != 1 || st.Duplicates != 0 {
		t.Fatalf("stats %+v; want 1 scan, 1 replay, 0 duplicates", st)
	}
	if s, _ := ti.admin(t, "POST", "/faults", `{"drop_rate": 1}`); s != 200 {
		t.Fatalf("set drop_rate: %d", s)
	}
	if status, _, _, err := tryHTTP(ti.client, "POST", "http://"+ti.addr+"/v1/scans", strings.Replace(string(body), "k-1", "k-2", 1)); err == nil {
		t.Fatalf("dropped answer: got %d; want no answer", status)
	}
	if st := ti.stats(t); st.Scans != 2 || st.AnswersDropped != 1 {
		t.Fatalf("stats %+v; want the dropped scan registered (2 scans), 1 answer dropped", st)
	}
}
