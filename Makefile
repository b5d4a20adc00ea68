# rsagent — see README.md. `make test` is what CI runs (.ci/run).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/rsagent/rsagent/agent.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@2025.1.1
FUZZTIME ?= 20s

.PHONY: build test bench lint fuzz tidy-check clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/rsagent ./cmd/rsagent

# Unit, wire (loopback) and interop (network namespaces, needs root) tests.
# Interop tests print why they skip; RSAGENT_REQUIRE_INTEROP=1 (CI) makes a skip fail.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 14m ./...

# Benchmarks print their figure beside the goal the issue names.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

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
