# The README's two commands are the first two targets: make run, make test.
GO      ?= go
BIN     := bin
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: run test build vet bench rehearsal clean

## run: build, start the simulated issuer and the gateway on loopback; Ctrl-C stops both
run: build
	./scripts/run.sh

## test: the whole suite (what .ci/run calls). The packages of units run
## under the race detector; gateway/ runs without it: its end-to-end tests
## drive real processes at thousands of requests per second, which a
## race-instrumented test client cannot keep up with on two cores, and its
## allocation tests need sync.Pool to keep what it is given.
test: vet
	$(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v '/gateway$$')
	$(GO) test -count=1 -timeout 30m ./gateway

## bench: Go benchmarks, then end-to-end figures against their targets (about 20 min)
bench:
	./scripts/bench.sh

## rehearsal: the launch-day surge against the simulated issuer, directly and through the gateway (< 3 min)
rehearsal:
	GO=$(GO) ./scripts/rehearsal.sh

build:
	$(GO) build -o $(BIN)/ ./cmd/...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

clean:
	rm -rf $(BIN) out
