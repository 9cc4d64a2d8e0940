# Portcullis: `make demo` runs the built-in lab, `make test` proves it.
GO        ?= go
BIN       := bin/portcullis
PKGS      := ./...
FUZZTIME  ?= 3s
# Debian packages the lab, the demo and the e2e tests use.
DEB_PKGS  := openvswitch-switch iproute2 ethtool iputils-ping iperf3 nmap hping3 tcpdump curl python3

.PHONY: all build test vet fmt-check unit fuzz e2e demo deps test-deps bench bench-scale clean deb demo-vm

all: build

build:
	$(GO) build -o $(BIN) ./cmd/portcullis

# make test: vet, gofmt check, unit tests, a short fuzz run and the e2e tests
# against a real Open vSwitch (needs root; see README).
test: vet fmt-check unit fuzz e2e

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt wants to rewrite:"; echo "$$out"; exit 1; fi

# Every test but the e2e suite, including those -short skips (Open vSwitch
# round trips in policy and ofp, the dashboard in Chromium, the long
# detector run): `go test -short ./...` is the quick subset.
unit:
	$(GO) test -count=1 $$($(GO) list $(PKGS) | grep -v /test/e2e)

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

e2e: build
	$(GO) test -count=1 -p 1 -timeout 20m ./test/e2e/...

deps:
	./scripts/deps.sh $(DEB_PKGS)

# Every Debian package `make test` uses (what .ci/run installs).
test-deps:
	./scripts/deps.sh $$(grep -v '^#' scripts/test-packages.txt)

demo: build
	./scripts/demo.sh

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
