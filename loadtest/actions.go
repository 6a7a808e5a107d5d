package loadtest

import (
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// actionTimeout bounds one action's POST.
const actionTimeout = 5 * time.Second

// ActionResult is what a timed action did.
type ActionResult struct {
	AtS    float64 `json:"at_s"` // scheduled time into the run
	URL    string  `json:"url"`
	Body   string  `json:"body,omitempty"`
	Status int     `json:"status"`          // 0 when there was no answer
	Error  string  `json:"error,omitempty"` // why there was no answer
}

// runActions makes the actions at their times from start, until ctx is
// done, and returns what each did. admin replaces {issuer_admin}. Lines go
// to con.
func runActions(ctx context.Context, actions []Action, admin string, start time.Time, con *console) []ActionResult {
	sorted := append([]Action(nil), actions...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At < sorted[j].At })
	client := &http.Client{Timeout: actionTimeout}
	var out []ActionResult
	for _, a := range sorted {
		t := time.NewTimer(time.Until(start.Add(a.At)))
		select {
		case <-ctx.Done():
			t.Stop()
			return out
		case <-t.C:
		}
		res := post(ctx, client, strings.ReplaceAll(a.Post, "{issuer_admin}", admin), a.Body)
		res.AtS = a.At.Seconds()
		if res.Error != "" {
			con.printf("action at %v: POST %s %s: %s", a.At, res.URL, a.Body, res.Error)
		} else {
			con.printf("action at %v: POST %s %s: %d", a.At, res.URL, a.Body, res.Status)
		}
		out = append(out, res)
	}
	return out
}

// post POSTs body to url as JSON.
func post(ctx context.Context, client *http.Client, url, body string) ActionResult {
	res := ActionResult{URL: url, Body: body}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		res.Error = err.Error()
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) //nolint:errcheck
	res.Status = resp.StatusCode
	if resp.StatusCode >= 300 {
		res.Error = resp.Status
	}
	return res
}
