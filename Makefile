# The README's two commands are the first two targets: make run, make test.
GO      ?= go
BIN     := bin
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: run run-fleet test build vet bench rehearsal clean fuzz image

## run: build, start the simulated issuer and the gateway on loopback; Ctrl-C stops both
run: build
	./scripts/run.sh

## run-fleet: redis-server, the simulated issuer and three gateways sharing port 8080 and their cache
run-fleet: build
	./scripts/deps.sh redis
	./scripts/run-fleet.sh

## test: the whole suite (what .ci/run calls); deploy/ and
## loadtest/vegetacheck/ are modules of their own (the Kubernetes API types,
## vegeta), tested last. The packages of units run
## under the race detector, and so do the gateway's in-process handler
## tests and fuzz seeds (TestInProcess*, Fuzz*); gateway/'s end-to-end
## tests run without it: they drive real processes at thousands of requests
## per second, which a race-instrumented test client cannot keep up with on
## two cores, and its allocation tests need sync.Pool to keep what it is
## given. The admission grid (limiter, TestAdmissionGrid) runs in simulated
## time without it: 252 points take two minutes plain, far longer raced.
test: vet
	./scripts/deps.sh redis prometheus
	$(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -vx 'shedgate/gateway')
	$(GO) test -count=1 -timeout 10m -run '^TestAdmissionGrid$$' ./limiter
	$(GO) test -race -count=1 -timeout 10m -run '^(TestInProcess|Fuzz)' ./gateway
	$(GO) test -count=1 -timeout 30m ./gateway
	cd deploy && $(GO) test -count=1 -timeout 10m ./...
	cd loadtest/vegetacheck && $(GO) test -count=1 -timeout 5m ./...

## image: the container image (deploy/container/Containerfile) with podman
image:
	./scripts/deps.sh podman
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/gateway-static ./cmd/gateway
	podman build -f deploy/container/Containerfile -t shedgate .

## fuzz: each fuzz target for FUZZTIME (default 60s)
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./configs
	$(GO) test -run '^$$' -fuzz '^FuzzEntryCodec$$' -fuzztime $(FUZZTIME) ./cache
	for f in FuzzRouter FuzzStripHops FuzzHandler; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./gateway || exit 1; done

## bench: Go benchmarks, then end-to-end figures against their targets (about 30 min)
bench:
	./scripts/bench.sh

## rehearsal: the launch-day surge against the simulated issuer, directly and through the gateway (< 3 min)
rehearsal:
	GO=$(GO) ./scripts/rehearsal.sh

build:
	$(GO) build -buildvcs=auto -o $(BIN)/ ./cmd/...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	cd deploy && $(GO) vet ./... && $(GO) mod tidy -diff
	cd loadtest/vegetacheck && $(GO) vet ./... && $(GO) mod tidy -diff
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	@scripts/check-links.sh

clean:
	rm -rf $(BIN) out
