# voxgate — the one entry point for building, running and testing.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
LDFLAGS := -X github.com/voxgate/voxgate/daemon/version.Version=$(VERSION)
PLUGINS := $(notdir $(patsubst %/main.go,%,$(wildcard plugins/*/main.go)))
PROTO_DIR := sdk/proto
PROTO_FILES := $(shell find $(PROTO_DIR) -name '*.proto')

.PHONY: build run test test-unit test-e2e proto proto-check lint clean

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/voxgate ./daemon/cmd/voxgate
	@for p in $(PLUGINS); do \
		echo "$(GO) build -o $(BIN)/plugins/$$p ./plugins/$$p" ; \
		$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/plugins/$$p ./plugins/$$p || exit 1 ; \
	done

# The demo: the daemon with the default config, SIP on 127.0.0.1:5060.
run: build
	$(BIN)/voxgate run -c etc/voxgate.toml

# All tests: unit (with -race), proto drift, end-to-end against real peers,
# and the deb/rpm packages really installed (packaging/packaging.mk).
test: build proto-check lint test-unit test-e2e test-packages

test-unit:
	$(GO) test -race -count=1 ./...

# End-to-end: the real daemon and plugin binaries against SIPp and tshark
# (root needed: SIPp plays pcaps on a raw socket). .ci/run installs the peers.
test-e2e: build
	$(GO) test -tags e2e -count=1 -v -timeout 15m ./test/e2e/

# Regenerates the Go code of the plugin contract; the result is committed.
proto:
	protoc -I $(PROTO_DIR) \
		--plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
		--plugin=protoc-gen-go-grpc="$$($(GO) tool -n protoc-gen-go-grpc)" \
		--go_out=$(PROTO_DIR) --go_opt=paths=source_relative \
		--go-grpc_out=$(PROTO_DIR) --go-grpc_opt=paths=source_relative \
		$(patsubst $(PROTO_DIR)/%,%,$(PROTO_FILES))

# Fails when the committed generated code differs from what `make proto` makes.
proto-check:
	@tmp=$$(mktemp -d) && cp -r $(PROTO_DIR) $$tmp/ && \
	protoc -I $$tmp/proto \
		--plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
		--plugin=protoc-gen-go-grpc="$$($(GO) tool -n protoc-gen-go-grpc)" \
		--go_out=$$tmp/proto --go_opt=paths=source_relative \
		--go-grpc_out=$$tmp/proto --go-grpc_opt=paths=source_relative \
		$(patsubst $(PROTO_DIR)/%,%,$(PROTO_FILES)) && \
	if diff -r $(PROTO_DIR) $$tmp/proto; then echo "proto: generated code is up to date"; rm -rf $$tmp; \
	else echo "proto: generated code drifted from the .proto files: run 'make proto' and commit" >&2; rm -rf $$tmp; exit 1; fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

clean:
	rm -rf $(BIN)

# deb/rpm targets: deb, rpm, packages, test-packages.
include packaging/packaging.mk
