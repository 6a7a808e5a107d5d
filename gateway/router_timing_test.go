package gateway

import (
	"fmt"
	"testing"

	"shedgate/configs"
)

// BenchmarkRouterLastOf20 looks up the last of 20 routes (as in
// manyRoutesConfig), by the tree and by trying each route in turn.
func BenchmarkRouterLastOf20(b *testing.B) {
	r := &router{}
	for i := range 19 { // as manyRoutesConfig
		method, path := "GET", fmt.Sprintf("/v1/codes/{id}/extra%d", i)
		switch i % 4 {
		case 1:
			method, path = "POST", fmt.Sprintf("/v1/codes/{id}/p%d", i)
		case 2:
			path = fmt.Sprintf("/v1/other%d/{id}", i)
		case 3:
			path = fmt.Sprintf("/v%d/*", i+2)
		}
		tpl, _ := configs.ParseTemplate(path)
		r.add(&route{name: path, methods: []string{method}, segments: tpl.Segments})
	}
	tpl, _ := configs.ParseTemplate("/v1/codes/{id}")
	r.add(&route{name: "code", methods: []string{"GET"}, segments: tpl.Segments})
	method, path := []byte("GET"), []byte("/v1/codes/11010519491231002X")
	for _, c := range []struct {
		name   string
		lookup func([]byte, []byte, *match) bool
	}{{"tree", r.lookup}, {"scan", r.scan}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var m match
			for b.Loop() {
				if !c.lookup(method, path, &m) || m.route.name != "code" {
					b.Fatal("no match")
				}
			}
		})
	}
}
