##@ Lint

.PHONY: golangci-lint
golangci-lint: ## Build golangci-lint (with the logcheck and kube-api-linter plugins) into bin/.
	hack/build-tool.sh golangci-lint

# The product module only. hack/cluster is its own module and is not linted
# yet: its socket code is moving into a package shared with the e2e harness
# (issue 14); hack/tools/* only pin and build third-party tools.
.PHONY: lint
lint: golangci-lint ## Run golangci-lint (.golangci.yml: go vet, staticcheck, revive, logcheck, kube-api-linter on api/, ...).
	$(BIN)/golangci-lint run ./...

TEST_EXTRA += lint
