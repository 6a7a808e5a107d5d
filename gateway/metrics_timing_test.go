package gateway

import (
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

// BenchmarkDurationHistogram times one Update of the request-duration
// histogram as /metrics now exports it (le buckets) against
// VictoriaMetrics' own vmrange histogram it replaced, in parallel.
func BenchmarkDurationHistogram(b *testing.B) {
	set := metrics.NewSet()
	prom := set.NewPrometheusHistogramExt("prom_seconds", durationBuckets)
	vm := set.NewHistogram("vm_seconds")
	for _, c := range []struct {
		name   string
		update func(float64)
	}{{"le", prom.Update}, {"vmrange", vm.Update}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				v := 0.0001
				for pb.Next() {
					c.update(v)
					if v *= 1.7; v > 5 {
						v = 0.0001
					}
				}
			})
		})
	}
}
