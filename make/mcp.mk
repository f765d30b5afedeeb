##@ MCP stub

.PHONY: mcp-stub
mcp-stub: ## Build bin/mcp-stub, the dot-ai remediate API stub for the local demo and e2e.
	go build -o $(BIN)/mcp-stub ./cmd/mcp-stub

.PHONY: run-mcp-stub
run-mcp-stub: mcp-stub ## Run the stub on 127.0.0.1:3456 (MCP_STUB_ARGS="--token x --latency 2s").
	$(BIN)/mcp-stub --listen 127.0.0.1:3456 $(MCP_STUB_ARGS)

.PHONY: fuzz-issue
fuzz-issue: ## Fuzz the issue builder's 2,000-UTF-16-unit bound (FUZZTIME=1m; not part of make test).
	go test ./internal/enricher/ -run '^$$' -fuzz FuzzIssue -fuzztime $(or $(FUZZTIME),1m)
