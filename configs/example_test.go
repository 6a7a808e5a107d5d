package configs_test

import (
	"fmt"

	"shedgate/configs"
)

func ExampleParse() {
	_, err := configs.Parse("gateway.yaml", []byte(`
upstreams:
  issuer: {targets: ["127.0.0.1:9000"]}
limiter:
  classes: [{name: critical}, {name: low}]
routes:
  - name: code
    path: /v1/codes/{id}
    upstream: issuer
    class: urgent
    cache: {tll: 1h}
`))
	fmt.Println(err)
	// Output:
	// gateway.yaml:11: routes[0].cache.tll: unknown key (did you mean ttl?)
}

func ExampleLoad() {
	c, err := configs.Load("gateway.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range c.Routes[:2] {
		fmt.Println(r.Name, r.Method, r.Path, r.Class, c.ClassIndex(r.Class))
	}
	// Output:
	// code GET /v1/codes/{id} normal 2
	// reissue POST /v1/codes/{id}/reissue low 3
}
