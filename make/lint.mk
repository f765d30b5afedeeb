##@ Lint

.PHONY: golangci-lint
golangci-lint: ## Build golangci-lint (with the logcheck and kube-api-linter plugins) into bin/.
	hack/build-tool.sh golangci-lint

# The product module, then hack/cluster (its own module, same config; paths
# in findings and exclusions stay relative to the config's directory).
# hack/tools/* only pin and build third-party tools and are not linted.
.PHONY: lint
lint: golangci-lint ## Run golangci-lint (.golangci.yml: go vet, staticcheck, revive, logcheck, kube-api-linter on api/, ...).
	$(BIN)/golangci-lint run ./...
	cd hack/cluster && $(BIN)/golangci-lint run --config $(ROOT)/.golangci.yml ./...
	@# Decisions are cited as links into docs/design/decisions.md.
	hack/link-decisions.sh --check

TEST_EXTRA += lint
