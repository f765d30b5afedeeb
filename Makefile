# dot-ai-controller. `make help` lists the targets.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

ROOT := $(CURDIR)
BIN := $(ROOT)/bin
export PATH := $(BIN):$(PATH)
# Tests find kube-apiserver, etcd and kubectl here.
export KUBEBUILDER_ASSETS := $(BIN)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# One image name: the chart's image.repository is its only home; the Makefile,
# the release workflow (`make -s image-repo`) and e2e-kind read it from there.
IMAGE_REPO := $(shell awk '/^image:/ {f=1} f && /^  repository:/ {print $$2; exit}' charts/dot-ai-controller/values.yaml)
IMG ?= $(IMAGE_REPO):$(VERSION)
# Packages of `make test`. Only the e2e suite's own package is left out (it
# needs a cluster and runs from `make e2e`); its harness, test/e2e/harness,
# stays in so the unit tests of its pure parts (argument rewriting, env,
# volumes, socket checks) run with the rest.
GO_PKGS_UNIT := $(shell go list ./... 2>/dev/null | grep -v -e '/test/e2e$$')

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD from api/ (config/crd and the chart's copy).
	$(BIN)/controller-gen crd:allowDangerousTypes=true paths="./api/..." output:crd:artifacts:config=config/crd
	@if [ -d charts/dot-ai-controller/templates ] && [ -x hack/sync-chart-crd.sh ]; then hack/sync-chart-crd.sh; fi

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(BIN)/controller-gen object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: image-repo
image-repo: ## Print the image repository (the chart's image.repository).
	@echo $(IMAGE_REPO)

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -s -w $$(git ls-files '*.go' | grep -v '^hack/tools/')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

# Where `make build` writes the binary; the upgrade test builds its own copy
# (make/upgrade.mk).
CONTROLLER_BIN ?= $(BIN)/dot-ai-controller

.PHONY: build
build: ## Build the controller binary into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X dot-ai.io/controller/internal/version.Version=$(VERSION)" -o $(CONTROLLER_BIN) ./cmd/dot-ai-controller

PLUGIN_BIN ?= $(BIN)/kubectl-dot_ai
.PHONY: plugin
plugin: ## Build the kubectl plugin (kubectl dot-ai …) into bin/; put bin/ on PATH to use it.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X dot-ai.io/controller/internal/version.Version=$(VERSION)" -o $(PLUGIN_BIN) ./cmd/kubectl-dot_ai

.PHONY: verify
verify: manifests generate ## Fail when generated files are stale or code is not gofmt'ed.
	@test -z "$$(gofmt -s -l $$(git ls-files '*.go' | grep -v '^hack/tools/'))" || { echo "gofmt needed:"; gofmt -s -l $$(git ls-files '*.go'); exit 1; }
	@git diff --exit-code -- config api charts || { echo "generated files are stale: run make manifests generate and commit"; exit 1; }

##@ Test

# Area makefiles under make/ add their own targets and append to
# TEST_EXTRA (checks `make test` also runs, e.g. helm lint, ct lint).
TEST_EXTRA :=
include $(wildcard make/*.mk)

.PHONY: test
test: envtest-assets manifests generate vet test-go $(TEST_EXTRA) ## Run unit, envtest integration and chart tests plus chart lint (the one test command).

.PHONY: test-go
# helm: test/helm's chart repository round trip runs bin/helm.
test-go: envtest-assets helm ## Run the Go tests (unit + envtest; -p 1 keeps one control plane at a time).
	go test $(GO_PKGS_UNIT) -p 1 -timeout 25m -count=1

##@ Tools (built from the Go module proxy into bin/, once per version)

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver, etcd and kubectl for envtest.
	hack/build-tool.sh etcd
	hack/build-tool.sh kube-apiserver
	hack/build-tool.sh kubectl

.PHONY: controller-gen
controller-gen: ## Build controller-gen.
	hack/build-tool.sh controller-gen

.PHONY: tools
tools: envtest-assets controller-gen ## Build every tool (a cold build takes ~25 min on 2 cores; then free).
	for t in helm ct kwok kube-controller-manager kube-scheduler kubelet helm-docs golangci-lint; do hack/build-tool.sh $$t; done
