# Portcullis: `make demo` runs the built-in lab, `make test` proves it.
GO        ?= go
BIN       := bin/portcullis
PKGS      := ./...
FUZZTIME  ?= 3s
# Debian packages the lab, the demo and the e2e tests use.
DEB_PKGS  := openvswitch-switch iproute2 ethtool iputils-ping iperf3 nmap hping3 tcpdump curl python3

# bash with pipefail: `go test -json | testsummary` fails if either does.
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c
# staticcheck from the module proxy, at a pinned version (not a go.mod
# dependency of the binary).
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# go test -json of each stage goes here; test-summary counts it.
RESULTS   := bin/test-results
SUMMARY   := bin/testsummary
UNIT_PKGS  = $$($(GO) list $(PKGS) | grep -v /test/e2e)

.PHONY: all build test vet fmt-check lint unit race fuzz e2e demo deps test-deps test-deps-auto test-summary bench bench-scale clean deb demo-vm demo-ha

all: build

build:
	$(GO) build -o $(BIN) ./cmd/portcullis

# make test: installs what its tests need (as root; see test-deps-auto),
# then vet, gofmt check, staticcheck, unit tests (and the -short ones with
# the race detector), a short fuzz run and the e2e tests against a real Open vSwitch (needs root;
# see README). Every stage runs even if one before it failed; the last lines
# list each skipped test with its reason and count passed, failed, skipped.
TEST_STAGES := test-deps-auto vet fmt-check lint unit race fuzz e2e
test:
	@rm -rf $(RESULTS); status=0; \
	for s in $(TEST_STAGES); do $(MAKE) --no-print-directory $$s || { status=1; echo "make test: $$s failed"; }; done; \
	$(MAKE) --no-print-directory test-summary || status=1; exit $$status

# Installs the test packages that are missing when run as root (a fresh
# machine, CI); otherwise names them and goes on (their tests skip, saying
# which package to install).
test-deps-auto:
	@if [ "$$(id -u)" -eq 0 ]; then ./scripts/deps.sh $$(grep -v '^#' scripts/test-packages.txt); \
	else ./scripts/deps.sh $$(grep -v '^#' scripts/test-packages.txt) || \
		echo "make test: not root, so not installing them; their tests will skip"; fi

$(SUMMARY): scripts/testsummary/main.go
	$(GO) build -o $@ ./scripts/testsummary

test-summary: $(SUMMARY)
	@$(SUMMARY) -report $(wildcard $(RESULTS)/*.json)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt wants to rewrite:"; echo "$$out"; exit 1; fi

# staticcheck over every package.
lint:
	$(STATICCHECK) $(PKGS)

# Every test but the e2e suite, including those -short skips (Open vSwitch
# round trips in policy and ofp, the dashboard in Chromium, the long
# detector run): `go test -short ./...` is the quick subset.
unit: $(SUMMARY)
	@mkdir -p $(RESULTS)
	$(GO) test -json -count=1 $(UNIT_PKGS) | $(SUMMARY) -save $(RESULTS)/unit.json

# The -short unit tests again under the race detector. (All of them with
# -race took 205 s against 40 s without on the 2-core CI machine, and the
# controller's fake-switch tests time out under it; -short takes 136 s.)
race: $(SUMMARY)
	@mkdir -p $(RESULTS)
	$(GO) test -json -race -short -count=1 $(UNIT_PKGS) | $(SUMMARY) -save $(RESULTS)/race.json

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

e2e: build $(SUMMARY)
	@mkdir -p $(RESULTS)
	$(GO) test -json -count=1 -p 1 -timeout 20m ./test/e2e/... | $(SUMMARY) -save $(RESULTS)/e2e.json

deps:
	./scripts/deps.sh $(DEB_PKGS)

# Every Debian package `make test` uses (what .ci/run installs).
test-deps:
	./scripts/deps.sh $$(grep -v '^#' scripts/test-packages.txt)

demo: build
	./scripts/demo.sh

# make demo-ha: two controllers on a real etcd, one bridge; the leader is
# killed and the follower takes over with every block (docs/ha.md).
demo-ha: build
	./scripts/demo-ha.sh

# make demo-vm: the paper's experiment with a real guest OS (a QEMU VM on the
# lab's bridge; needs root, installs qemu-system-x86, linux-image-amd64,
# busybox-static if missing).
demo-vm: build
	./scripts/demo-vm.sh

# make deb: bin/portcullis_VERSION_ARCH.deb (deploy/mkdeb, nfpm): a static
# binary, the systemd unit, /etc/portcullis/portcullis.yaml (conffile),
# /var/lib/portcullis and the portcullis system account.
DEB_VERSION ?= 0.1.0
DEB_OUT     ?= bin
deb:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(DEB_VERSION)" -o $(DEB_OUT)/deb/portcullis ./cmd/portcullis
	$(GO) run ./deploy/mkdeb -bin $(DEB_OUT)/deb/portcullis -root . -version $(DEB_VERSION) -out $(DEB_OUT)

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./ofp/ ./internal/...

# The controller at scale beside ovs-testcontroller and os-ken (docs/BENCHMARKS.md).
bench-scale: build
	./scripts/bench-scale.sh

clean:
	rm -rf bin
