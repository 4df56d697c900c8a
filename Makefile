# ami-kms-remediator. `make demo` and `make test` are the two commands a new machine needs.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
export GOFLAGS := -buildvcs=false

# Pinned tools (installed with `go install` into ./bin).
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE := $(BIN)/aws-lambda-rie

LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'

.PHONY: all build test unit lint vet fmt-check demo invoke bench tools clean build-RemediatorFunction build-SweepTaskFunction build-SweeperFunction bootstrap-arm64

all: build

## SAM (BuildMethod: makefile) calls this target with ARTIFACTS_DIR set.
build-RemediatorFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/remediator

## The sweep's tasks run the remediator's own bootstrap; the sweep's starter is its own.
build-SweepTaskFunction: build-RemediatorFunction

build-SweeperFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/sweeper

## The deployable arm64 binary, as SAM builds it.
bootstrap-arm64:
	$(MAKE) build-RemediatorFunction ARTIFACTS_DIR=$(CURDIR)/build/arm64

## Binaries for this machine: bin/bootstrap (what the Lambda runtime emulator runs) and bin/amikms.
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(BIN)/bootstrap ./functions/remediator
	CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(BIN)/sweeper ./functions/sweeper
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/amikms ./cmd/amikms

tools: $(RIE)
$(RIE):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

## The README's test command: formatting, vet, cfn-lint, then unit and integration tests. Each
## test package that needs AWS starts its own moto_server on a free loopback port and stops it.
test: fmt-check vet tools
	@command -v moto_server >/dev/null || { echo "moto_server not found: pip install 'moto[server]'"; exit 1; }
	@command -v cfn-lint >/dev/null || { echo "cfn-lint not found: pip install cfn-lint"; exit 1; }
	AMIKMS_RIE=$(RIE) $(GO) test -count=1 -timeout 20m ./...

## The tests that need no local AWS (in-memory fakes, pure logic): seconds, for the edit loop.
unit: fmt-check vet
	$(GO) test -count=1 -short ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	cfn-lint template.yaml member-account.yaml

## The main job on the embedded local AWS: seed the scenario, run the remediator, show the result.
demo:
	@command -v moto_server >/dev/null || { echo "moto_server not found: pip install 'moto[server]'"; exit 1; }
	$(GO) run ./cmd/amikms demo

## Run bootstrap under the Lambda Runtime Interface Emulator against the local AWS, as
## `sam local invoke -e $(EVENT)` would with samconfig.toml's local settings (MODE=alert):
## make invoke EVENT=events/share-image.json MODE=fix
EVENT ?= events/share-image.json
MODE ?= alert
invoke: build tools
	$(BIN)/amikms demo --invoke $(EVENT) --mode $(MODE) --rie $(RIE) --bootstrap $(BIN)/bootstrap

## One table of cold start (bootstrap vs an empty handler under aws-lambda-rie), AWS
## calls per event against their minimum, batch coalescing, peak RSS and binary size, and the
## policy engine's Go benchmarks against encoding/json. BENCH_FLAGS="-n 30 -count 10" to vary.
BENCH_FLAGS ?=
bench: tools
	@command -v moto_server >/dev/null || { echo "moto_server not found: pip install 'moto[server]'"; exit 1; }
	@CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/amikms ./cmd/amikms
	@$(BIN)/amikms bench -rie $(RIE) $(BENCH_FLAGS)

clean:
	rm -rf $(BIN) build .aws-sam
