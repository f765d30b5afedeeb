##@ Lint

.PHONY: golangci-lint
golangci-lint: ## Build golangci-lint (with the logcheck and kube-api-linter plugins) into bin/.
	hack/build-tool.sh golangci-lint

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (.golangci.yml: go vet, staticcheck, revive, logcheck, kube-api-linter on api/, ...).
	$(BIN)/golangci-lint run ./...

TEST_EXTRA += lint
