package gateway

import (
	"bytes"
	"strings"
	"testing"
)

func TestExpositionGroupsFamilies(t *testing.T) {
	// As VictoriaMetrics/metrics writes scrape-time figures: metadata
	// before each sample, one family in two places.
	raw := "# HELP gateway_limiter_queue_depth\n# TYPE gateway_limiter_queue_depth gauge\n" +
		"gateway_limiter_queue_depth{class=\"a\"} 1\n" +
		"# HELP gateway_limiter_admitted_total\n# TYPE gateway_limiter_admitted_total counter\n" +
		"gateway_limiter_admitted_total{class=\"a\"} 5\n" +
		"# HELP gateway_limiter_queue_depth\n# TYPE gateway_limiter_queue_depth gauge\n" +
		"gateway_limiter_queue_depth{class=\"b\"} 2\n" +
		"# HELP gateway_upstream_requests_total\n# TYPE gateway_upstream_requests_total gauge\n" +
		"gateway_upstream_requests_total{upstream=\"u\"} 7\n" +
		"# HELP gateway_rejection_duration_seconds\n# TYPE gateway_rejection_duration_seconds histogram\n" +
		"gateway_rejection_duration_seconds_bucket{le=\"0.1\"} 1\n" +
		"gateway_rejection_duration_seconds_bucket{le=\"+Inf\"} 1\n" +
		"gateway_rejection_duration_seconds_sum 0.05\ngateway_rejection_duration_seconds_count 1\n" +
		"# HELP go_cgo_calls_count\n# TYPE go_cgo_calls_count counter\ngo_cgo_calls_count 3\n" +
		"# HELP process_io_read_bytes_total\n# TYPE process_io_read_bytes_total gauge\nprocess_io_read_bytes_total 9\n"
	var e exposition
	e.parse([]byte(raw))
	var b bytes.Buffer
	e.write(&b)
	want := "# HELP gateway_limiter_queue_depth " + families["gateway_limiter_queue_depth"].help + "\n" +
		"# TYPE gateway_limiter_queue_depth gauge\n" +
		"gateway_limiter_queue_depth{class=\"a\"} 1\ngateway_limiter_queue_depth{class=\"b\"} 2\n" +
		"# HELP gateway_limiter_admitted_total " + families["gateway_limiter_admitted_total"].help + "\n" +
		"# TYPE gateway_limiter_admitted_total counter\ngateway_limiter_admitted_total{class=\"a\"} 5\n" +
		"# HELP gateway_upstream_requests_total " + families["gateway_upstream_requests_total"].help + "\n" +
		"# TYPE gateway_upstream_requests_total counter\ngateway_upstream_requests_total{upstream=\"u\"} 7\n" +
		"# HELP gateway_rejection_duration_seconds " + families["gateway_rejection_duration_seconds"].help + "\n" +
		"# TYPE gateway_rejection_duration_seconds histogram\n" +
		"gateway_rejection_duration_seconds_bucket{le=\"0.1\"} 1\ngateway_rejection_duration_seconds_bucket{le=\"+Inf\"} 1\n" +
		"gateway_rejection_duration_seconds_sum 0.05\ngateway_rejection_duration_seconds_count 1\n" +
		"# HELP process_io_read_bytes_total Process or Go runtime figure, as VictoriaMetrics/metrics reports it.\n" +
		"# TYPE process_io_read_bytes_total counter\nprocess_io_read_bytes_total 9\n"
	if got := b.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestMetricsFamiliesAreDescribed scrapes a live gateway's /metrics and
// checks that each family comes once, with a HELP text, a TYPE, and, for
// every gateway_ family, an entry in families.
func TestMetricsFamiliesAreDescribed(t *testing.T) {
	o := startOrigin(t)
	p := startInProcess(t, inProcessConfig(o.addr))
	for _, path := range []string{"/v1/codes/11010519491231002X", "/nothing/here"} {
		p.exchange([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")) //nolint:errcheck
	}
	var b bytes.Buffer
	p.g.writeMetrics(&b)
	seen := map[string]bool{}
	var n int
	for _, line := range strings.Split(b.String(), "\n") {
		if !strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		f := strings.Fields(line)
		name, typ := f[2], f[3]
		n++
		if seen[name] {
			t.Errorf("family %s has two TYPE lines", name)
		}
		seen[name] = true
		if typ == "untyped" {
			t.Errorf("family %s is untyped", name)
		}
		if _, ok := families[name]; strings.HasPrefix(name, "gateway_") && !ok {
			t.Errorf("family %s is not in families", name)
		}
	}
	for _, want := range []string{"gateway_build_info", "gateway_requests_total", "gateway_request_duration_seconds",
		"gateway_config_last_reload_successful", "gateway_limiter_rejected_total", "process_resident_memory_bytes"} {
		if !seen[want] {
			t.Errorf("no family %s in /metrics", want)
		}
	}
	if strings.Contains(b.String(), "vmrange") || strings.Contains(b.String(), "# HELP gateway_cache_hits_total\n") {
		t.Errorf("VictoriaMetrics' own buckets or empty HELP lines left in /metrics")
	}
	t.Logf("%d families", n)
}
