package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the result of a run, in the JSON form of DESIGN.md's loadtest
// report contract (with more fields). Counts of logical requests: Offered
// = Sent + Dropped; Sent = OK + Shed + Errors + Timeouts of the classes.
// Latencies are in milliseconds from each request's scheduled send time to
// its final outcome (an answer, an error or a timeout), retries included.
type Report struct {
	Scenario    string    `json:"scenario"`
	Description string    `json:"description,omitempty"`
	Target      string    `json:"target"`
	StartedAt   time.Time `json:"started_at"`
	DurationS   float64   `json:"duration_s"` // scheduled: the phases' total
	WallS       float64   `json:"wall_s"`     // the run with its last answers
	OfferedRPS  float64   `json:"offered_rps"`
	AchievedRPS float64   `json:"achieved_rps"` // sent / the time the sending took (at least duration_s)
	Offered     int64     `json:"offered"`
	Sent        int64     `json:"sent"`
	LateSends   int64     `json:"late_sends"` // sent more than generator.late_threshold_ms behind schedule
	Dropped     int64     `json:"dropped"`    // not sent: the in-flight cap was reached

	Classes    map[string]*ClassReport `json:"classes"`
	All        *ClassReport            `json:"all"`
	Timeline   []Second                `json:"timeline"`
	Phases     []PhaseMark             `json:"phases"`
	Thresholds []ThresholdResult       `json:"thresholds"`
	Generator  Generator               `json:"generator"`
	Setup      SetupReport             `json:"setup"`
	Actions    []ActionResult          `json:"actions,omitempty"`
}

// ClassReport is what one class's logical requests became.
type ClassReport struct {
	Sent     int64 `json:"sent"`     // logical requests sent
	Tries    int64 `json:"tries"`    // tries, retries included
	OK       int64 `json:"ok"`       // 2xx or a listed domain status
	Shed     int64 `json:"shed"`     // final answer 429 or 503
	Errors   int64 `json:"errors"`   // another status, or no answer
	Timeouts int64 `json:"timeouts"` // last try timed out
	Dropped  int64 `json:"dropped"`  // not sent: in-flight cap
	// Failed is every logical request sent that was not ok: shed, errors
	// and timeouts (as k6's http_req_failed and vegeta's non-success count
	// a 503).
	Failed int64            `json:"failed"`
	Status map[string]int64 `json:"status"` // per try; "timeout", "conn_error" for no answer
	// LatencyMs are of the logical requests sent: from the scheduled send
	// to the final outcome, retries and their pauses included (what a
	// resident waits for a code).
	LatencyMs Latency `json:"latency_ms"`
	// TryLatencyMs are of every try on its own: from its send to its
	// answer (what k6 and vegeta report as a request's latency).
	TryLatencyMs Latency `json:"try_latency_ms"`
	GoodputRPS   float64 `json:"goodput_rps"` // ok per second of duration_s
	Success      float64 `json:"success"`     // ok / (sent + dropped)
}

// Latency are percentiles and the mean in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Second is one second of the timeline: the logical requests scheduled in
// it and what they became.
type Second struct {
	T        int                     `json:"t_s"`
	Offered  int64                   `json:"offered"`
	Sent     int64                   `json:"sent"`
	OK       int64                   `json:"ok"`
	Shed     int64                   `json:"shed"`
	Errors   int64                   `json:"errors"`
	Timeouts int64                   `json:"timeouts"`
	Dropped  int64                   `json:"dropped"`
	P99Ms    float64                 `json:"p99_ms"`
	Classes  map[string]*SecondClass `json:"classes"`
}

// SecondClass is one class in one second of the timeline.
type SecondClass struct {
	Sent     int64   `json:"sent"`
	OK       int64   `json:"ok"`
	Shed     int64   `json:"shed"`
	Errors   int64   `json:"errors"`
	Timeouts int64   `json:"timeouts"`
	P50Ms    float64 `json:"p50_ms"`
	P90Ms    float64 `json:"p90_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// PhaseMark is a phase on the timeline, for the charts.
type PhaseMark struct {
	Kind   string  `json:"kind"`
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	From   float64 `json:"from_rps"`
	To     float64 `json:"to_rps"`
}

// Passed reports whether every threshold passed (true when there are
// none).
func (r *Report) Passed() bool {
	for _, t := range r.Thresholds {
		if !t.Passed {
			return false
		}
	}
	return true
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadReport reads a report written by WriteJSON.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	r := &Report{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	return r, nil
}

// report builds the report of a finished run.
func (r *runner) report(gen Generator, setup SetupReport, actions []ActionResult, wall time.Duration) *Report {
	p, d := r.plan, &r.disp
	rep := &Report{Scenario: r.scen.Name, Description: r.scen.Description, Target: r.targetURLs(),
		StartedAt: r.start.UTC().Round(time.Millisecond), DurationS: p.sched.total.Seconds(),
		WallS: wall.Seconds(), Classes: map[string]*ClassReport{}, Setup: setup, Actions: actions}
	recs := r.rec.merged()
	all := &newClassRecs(1)[0]
	for c, name := range p.classes {
		all.add(&recs[c])
		rep.Classes[name] = classReport(&recs[c], colSum(d.sent, c), colSum(d.dropped, c), rep.DurationS)
	}
	rep.All = classReport(all, colSum(d.sent, -1), colSum(d.dropped, -1), rep.DurationS)
	rep.Offered, rep.Sent, rep.Dropped = colSum(d.offered, -1), rep.All.Sent, rep.All.Dropped
	rep.OfferedRPS = float64(rep.Offered) / rep.DurationS
	sending := max(rep.DurationS, d.lastSend.Seconds())
	rep.AchievedRPS = float64(rep.Sent) / sending
	rep.LateSends = r.live.late.Load()
	rep.Timeline = r.timeline(recs, all)
	for _, ph := range p.sched.phases {
		rep.Phases = append(rep.Phases, PhaseMark{StartS: ph.start.Seconds(), EndS: (ph.start + ph.dur).Seconds(), From: ph.from, To: ph.to})
	}
	for i := range rep.Phases {
		rep.Phases[i].Kind = kindOr(r.scen.Phases[i].Kind)
	}
	gen.SendLagMs = latency(d.lag)
	gen.Warnings = r.finalWarnings(rep, gen)
	rep.Generator = gen
	rep.Thresholds = checkAll(p.rules, rep)
	return rep
}

// finalWarnings returns the self-check's verdict on the whole run,
// printing each.
func (r *runner) finalWarnings(rep *Report, gen Generator) []string {
	w := []string{}
	if gen.SendLagMs.P99 > ms(LateThreshold) {
		w = append(w, fmt.Sprintf("send lag p99 %.1fms is above %v: the generator could not keep its schedule", gen.SendLagMs.P99, LateThreshold))
	}
	if rep.Dropped > 0 || gen.DroppedRetries > 0 {
		w = append(w, fmt.Sprintf("%d sends and %d retries dropped: %d requests were in flight (raise -max-inflight if the machine allows)",
			rep.Dropped, gen.DroppedRetries, gen.InFlightCap))
	}
	if perConn := int64(max(gen.Pipeline, 1)); gen.MaxInFlight > int64(gen.Connections)*perConn {
		w = append(w, fmt.Sprintf("up to %d requests were in flight on %d connections: the excess waited for a connection (raise -connections)",
			gen.MaxInFlight, gen.Connections))
	}
	if gen.Cores > 0 && gen.CPUMaxPct > cpuSaturated*100*float64(gen.Cores) {
		w = append(w, fmt.Sprintf("generator CPU reached %.0f%% of %d cores", gen.CPUMaxPct, gen.Cores))
	}
	for _, s := range w {
		r.con.printf("warning: %s", s)
	}
	return w
}

// classReport summarizes one class's record.
func classReport(c *classRec, sent, dropped int64, durS float64) *ClassReport {
	cr := &ClassReport{Sent: sent, Tries: c.ntries, OK: c.n[outOK], Shed: c.n[outShed], Errors: c.n[outError],
		Timeouts: c.n[outTimeout], Dropped: dropped, Status: map[string]int64{}, LatencyMs: latency(c.h),
		TryLatencyMs: latency(c.tries)}
	cr.Failed = cr.Shed + cr.Errors + cr.Timeouts
	for st, n := range c.status {
		cr.Status[statusName(st)] = n
	}
	if durS > 0 {
		cr.GoodputRPS = round3(float64(cr.OK) / durS)
	}
	if sent+dropped > 0 {
		cr.Success = round6(float64(cr.OK) / float64(sent+dropped))
	}
	return cr
}

// statusName returns the report's key of a try's status.
func statusName(st int) string {
	switch st {
	case statusTimeout:
		return "timeout"
	case statusConnError:
		return "conn_error"
	}
	return strconv.Itoa(st)
}

// timeline builds the per-second rows.
func (r *runner) timeline(recs []classRec, all *classRec) []Second {
	d := &r.disp
	out := make([]Second, len(d.offered))
	for s := range out {
		row := &out[s]
		row.T = s
		row.Offered, row.Sent, row.Dropped = rowSum(d.offered[s]), rowSum(d.sent[s]), rowSum(d.dropped[s])
		row.Classes = map[string]*SecondClass{}
		if s < len(all.secs) {
			sr := &all.secs[s]
			row.OK, row.Shed, row.Errors, row.Timeouts = sr.n[outOK], sr.n[outShed], sr.n[outError], sr.n[outTimeout]
			row.P99Ms = quantileMs(sr.h, 99)
		}
		for c, name := range r.plan.classes {
			sc := &SecondClass{Sent: d.sent[s][c]}
			if s < len(recs[c].secs) {
				sr := &recs[c].secs[s]
				sc.OK, sc.Shed, sc.Errors, sc.Timeouts = sr.n[outOK], sr.n[outShed], sr.n[outError], sr.n[outTimeout]
				sc.P50Ms, sc.P90Ms, sc.P99Ms = quantileMs(sr.h, 50), quantileMs(sr.h, 90), quantileMs(sr.h, 99)
				if sr.h != nil {
					sc.MaxMs = usToMs(sr.h.Max())
				}
			}
			row.Classes[name] = sc
		}
	}
	return out
}

// latency returns h's percentiles in milliseconds.
func latency(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{P50: quantileMs(h, 50), P90: quantileMs(h, 90), P95: quantileMs(h, 95), P99: quantileMs(h, 99),
		P999: quantileMs(h, 99.9), Max: usToMs(h.Max()), Mean: round3(h.Mean() / 1000)}
}

// quantileMs returns h's q-th percentile in milliseconds; 0 for a nil or
// empty h.
func quantileMs(h *hdrhistogram.Histogram, q float64) float64 {
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return usToMs(h.ValueAtQuantile(q))
}

// usToMs converts microseconds to milliseconds, to the microsecond.
func usToMs(us int64) float64 { return float64(us) / 1000 }

// colSum returns the sum of column c of g, or of every cell when c < 0.
func colSum(g [][]int64, c int) int64 {
	var n int64
	for _, row := range g {
		if c < 0 {
			n += rowSum(row)
		} else {
			n += row[c]
		}
	}
	return n
}

// rowSum returns the sum of row.
func rowSum(row []int64) int64 {
	var n int64
	for _, v := range row {
		n += v
	}
	return n
}

func round3(x float64) float64 { return math.Round(x*1e3) / 1e3 }
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// targetURLs is the run's targets as Options.Target takes them.
func (r *runner) targetURLs() string {
	urls := make([]string, len(r.tgts))
	for i, t := range r.tgts {
		urls[i] = t.url
	}
	return strings.Join(urls, ",")
}
