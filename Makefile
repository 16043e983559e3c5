# Switchyard build and test entry points. `make test` is the one command that
# runs the whole suite; .ci/run calls exactly it.
GO       ?= go
BIN      ?= bin
PKGS     ?= ./...
# Root tests (network namespaces) run when the suite runs as root; they skip
# with a message otherwise.
TESTFLAGS ?= -count=1 -timeout 40m

.PHONY: all build test test-short vet fmt race bench fuzz deps clean

all: build

# The commit is stamped at link time too: `version --json` and the
# switchyard_build_info metric say what was built even where VCS stamping is
# off (GOFLAGS=-buildvcs=false, as on CI).
COMMIT  := $(shell git rev-parse HEAD 2>/dev/null)
COMMITT := $(shell git log -1 --format=%cI 2>/dev/null)
LDFLAGS := -X main.buildCommit=$(COMMIT) -X main.buildTime=$(COMMITT)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/switchyard ./cmd/switchyard
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/switchyard-brain ./cmd/switchyard-brain

# The whole suite: formatting, vet, every test (root end-to-end and interop
# tests included when run as root), and the engine under the race detector.
test: vet build
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) test $(TESTFLAGS) $(PKGS)
	$(GO) test -count=1 -race -short ./internal/datapath/ ./internal/packet/

test-short: vet
	$(GO) test -short -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

race:
	$(GO) test -race -count=1 $(PKGS)

# Engine and parser benchmarks (figures go to docs/performance.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./internal/datapath/ ./internal/packet/

# Short fuzzing of every fuzz target of every package (parsers, protocol
# decoders, the pipeline); corpus that finds bugs stays in testdata/fuzz.
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep ^Fuzz); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; done; done

# Packages the test suite and the lab need on a fresh Debian machine.
deps:
	bash .ci/deps

clean:
	rm -rf $(BIN)

# Side-by-side benchmark: the same topologies and traffic on the Linux
# kernel, Open vSwitch 3.1 (userspace) and Switchyard, in one run, with
# ratios (bench/compare/README.md). Needs root. Flags through ARGS, e.g.
# make bench-compare ARGS="--rounds 1 --duration 3 --only a".
.PHONY: bench-compare
bench-compare:
	bash bench/compare/deps.sh
	$(MAKE) build
	$(GO) build -o $(BIN)/bench-compare ./bench/compare
	$(BIN)/bench-compare $(ARGS)
