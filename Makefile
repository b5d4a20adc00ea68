# rsagent — see README.md. `make test` is what CI runs (.ci/run).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/rsagent/rsagent/agent.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 20s
BIN     ?= bin/rsagent
GOARCH  ?= $(shell $(GO) env GOARCH)

# Pinned tools the deploy tests use, installed under .tools/ by `make tools`:
# AWS's Lambda Runtime Interface Emulator and nfpm (go install, module
# proxy), and the CloudFormation resource schemas (npm ci).
TOOLS    := $(CURDIR)/.tools
RIE_MOD  := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
NFPM_MOD := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
RIE      := $(TOOLS)/$(subst /,_,$(RIE_MOD))/aws-lambda-rie
NFPM     := $(TOOLS)/$(subst /,_,$(NFPM_MOD))/nfpm
CFN_SPEC := deploy/cloudformation/schema/node_modules/.package-lock.json
TOOLS_PATH := $(dir $(RIE)):$(dir $(NFPM)):$$PATH

.PHONY: build test bench lint fuzz tidy-check clean tools lambda-zip deb

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/rsagent

tools: $(RIE) $(NFPM) $(CFN_SPEC)

$(RIE):
	GOBIN=$(dir $@) $(GO) install $(RIE_MOD)

$(NFPM):
	GOBIN=$(dir $@) $(GO) install $(NFPM_MOD)

$(CFN_SPEC): deploy/cloudformation/schema/package-lock.json
	npm ci --prefix deploy/cloudformation/schema --no-audit --no-fund --loglevel=error

# The Lambda deployment package: the binary named bootstrap (runtime
# provided.al2023; GOARCH=amd64 for x86_64, arm64 for arm64) and the config,
# checked first. LAMBDA_CONFIG defaults to the example, which names a
# placeholder VPC; the CloudFormation stack overrides vpc_id.
LAMBDA_CONFIG ?= deploy/examples/lambda.yaml
LAMBDA_ZIP    ?= bin/rsagent-lambda-$(GOARCH).zip
LAMBDA_DIR    ?= bin/lambda-$(GOARCH)
lambda-zip:
	rm -rf $(LAMBDA_DIR) && mkdir -p $(LAMBDA_DIR) $(dir $(LAMBDA_ZIP))
	GOOS=linux GOARCH=$(GOARCH) CGO_ENABLED=0 $(GO) build -trimpath -tags lambda.norpc -ldflags '$(LDFLAGS)' -o $(LAMBDA_DIR)/bootstrap ./cmd/rsagent
	$(GO) run ./cmd/rsagent config check -c $(LAMBDA_CONFIG) >/dev/null
	install -m 0644 $(LAMBDA_CONFIG) $(LAMBDA_DIR)/rsagent.yaml
	rm -f $(LAMBDA_ZIP) && cd $(LAMBDA_DIR) && zip -q -X $(abspath $(LAMBDA_ZIP)) bootstrap rsagent.yaml
	@echo "$(LAMBDA_ZIP): upload it to S3 and deploy deploy/cloudformation/sync-routes-lambda.yaml (docs/serverless.md)"

# The Debian package (deploy/deb/nfpm.yaml): binary, systemd unit, sysusers
# file, examples, docs. Debian versions start with a digit: a tag v1.2.3
# gives 1.2.3, anything else 0.0.0~git<commit>.
DEB_VERSION ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' 2>/dev/null | sed 's/^v//; s/-/+/g'); echo $${v:-0.0.0~git$$(git rev-parse --short HEAD 2>/dev/null || echo dev)})
DEBDIR ?= bin
DEB_MAINTAINER := rsagent maintainers <rsagent@users.noreply.github.com>
deb: build $(NFPM)
	mkdir -p $(DEBDIR)
	printf '%s (%s) unstable; urgency=medium\n\n  * Built from commit %s; the repository history is the changelog.\n\n -- %s  %s\n' \
	  rsagent '$(DEB_VERSION)' "$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" '$(DEB_MAINTAINER)' \
	  "$$(git log -1 --format=%aD 2>/dev/null || date -R)" | gzip -9n > $(DEBDIR)/changelog.gz
	# Man pages from the commands' own help (cmd/rsagent/man.go, only in this build), dated by the commit.
	rm -rf $(DEBDIR)/man
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) $(GO) run -tags mangen ./cmd/rsagent man $(DEBDIR)/man
	gzip -9n $(DEBDIR)/man/*.1
	RSAGENT_BINARY=$(BIN) RSAGENT_CHANGELOG=$(DEBDIR)/changelog.gz RSAGENT_MANDIR=$(DEBDIR)/man RSAGENT_DEB_VERSION=$(DEB_VERSION) GOARCH=$(GOARCH) \
	  $(NFPM) package --config deploy/deb/nfpm.yaml --packager deb --target $(DEBDIR)/

# Unit, wire (loopback) and interop (network namespaces, needs root) tests.
# Unit and wire tests run under the race detector. Interop tests (FRR and BIRD
# in namespaces, BFD at 100 ms) run afterwards without it, one package at a
# time: the race detector's slowdown and parallel builds on a 2-core machine
# would turn their timing into noise. Interop tests print why they skip;
# RSAGENT_REQUIRE_INTEROP=1 (CI) makes a skip a failure.
INTEROP_PKGS := ./internal/interop ./internal/netns
test: tools
	$(GO) vet ./...
	PATH="$(TOOLS_PATH)" $(GO) test -race -count=1 -timeout 10m -skip '^TestInterop' $$($(GO) list ./... | grep -v -e '/internal/interop$$' -e '/internal/netns$$')
	$(GO) test -count=1 -p 1 -timeout 10m -run '^TestInterop' ./bfd/
	$(GO) test -count=1 -p 1 -timeout 10m $(INTEROP_PKGS)

# Benchmarks print their figure beside the goal the issue names. One package
# at a time: several measure timing and must not share the CPUs with another.
# The slow ones (seconds per iteration) run once; micro-benchmarks run ~1 s.
bench: tools
	PATH="$(TOOLS_PATH)" $(GO) test -p 1 -run '^$$' -bench . -timeout 40m ./...

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
	rm -rf bin .tools deploy/cloudformation/schema/node_modules
