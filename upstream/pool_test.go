package upstream

import (
	"testing"
	"time"
)

func TestNewPoolFromKeepsUnchangedTargets(t *testing.T) {
	prev, err := newPool(Config{Name: "u", Targets: []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}})
	if err != nil {
		t.Fatal(err)
	}
	next, err := NewPoolFrom(prev, Config{Name: "u", Targets: []string{"127.0.0.1:2", "127.0.0.1:4"}})
	if err != nil {
		t.Fatal(err)
	}
	if next.Target("127.0.0.1:2") != prev.Target("127.0.0.1:2") {
		t.Fatalf("unchanged target 127.0.0.1:2 was rebuilt; want it (and its connections) kept")
	}
	var retired []string
	for _, tg := range Retired(prev, next) {
		retired = append(retired, tg.Addr())
	}
	if len(retired) != 2 || retired[0] != "127.0.0.1:1" || retired[1] != "127.0.0.1:3" {
		t.Fatalf("retired %v; want [127.0.0.1:1 127.0.0.1:3]", retired)
	}
	changed, _ := NewPoolFrom(next, Config{Name: "u", Targets: []string{"127.0.0.1:2"}, Timeout: 5 * time.Second})
	if changed.Target("127.0.0.1:2") == next.Target("127.0.0.1:2") {
		t.Fatalf("target kept across a timeout change; want a new one with the new timeout")
	}
	if len(Retired(next, nil)) != 2 {
		t.Fatalf("Retired(prev, nil) should retire every target")
	}
}

func TestPickPrefersLeastPending(t *testing.T) {
	p, _ := newPool(Config{Name: "u", Targets: []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}})
	p.targets[0].pending.Store(5)
	p.targets[1].pending.Store(1)
	p.targets[2].pending.Store(3)
	for range 50 {
		if got := pickOne(p).Addr(); got != "127.0.0.1:2" {
			t.Fatalf("pick %s; want the least pending 127.0.0.1:2", got)
		}
	}
	p.targets[1].pending.Store(5)
	p.targets[2].pending.Store(5)
	seen := map[string]bool{}
	for range 200 {
		seen[pickOne(p).Addr()] = true
	}
	if len(seen) != 3 {
		t.Fatalf("ties broken toward %v; want all three targets picked at random", seen)
	}
}

// pickOne is one selection with nothing to avoid, as a single attempt makes it.
func pickOne(p *Pool) *Target {
	i, _ := p.pick(0, p.now())
	return p.targets[i]
}
