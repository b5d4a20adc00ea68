# rsagent — see README.md. `make test` is what CI runs (.ci/run).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/rsagent/rsagent/agent.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 20s

.PHONY: build test bench lint fuzz tidy-check clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/rsagent ./cmd/rsagent

# Unit, wire (loopback) and interop (network namespaces, needs root) tests.
# Unit and wire tests run under the race detector. Interop tests (FRR and BIRD
# in namespaces, BFD at 100 ms) run afterwards without it, one package at a
# time: the race detector's slowdown and parallel builds on a 2-core machine
# would turn their timing into noise. Interop tests print why they skip;
# RSAGENT_REQUIRE_INTEROP=1 (CI) makes a skip a failure.
INTEROP_PKGS := ./internal/interop ./internal/netns
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 10m -skip '^TestInterop' $$($(GO) list ./... | grep -v -e '/internal/interop$$' -e '/internal/netns$$')
	$(GO) test -count=1 -p 1 -timeout 10m -run '^TestInterop' ./bfd/
	$(GO) test -count=1 -p 1 -timeout 10m $(INTEROP_PKGS)

# Benchmarks print their figure beside the goal the issue names. One package
# at a time: several measure timing and must not share the CPUs with another.
# The slow ones (seconds per iteration) run once; micro-benchmarks run ~1 s.
bench:
	$(GO) test -p 1 -run '^$$' -bench . -timeout 40m ./...

lint: tidy-check
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

tidy-check:
	$(GO) mod tidy -diff

# Runs every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf bin
