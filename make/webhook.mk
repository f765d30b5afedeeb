##@ Admission webhooks

FUZZTIME ?= 30s

.PHONY: fuzz-webhook
fuzz-webhook: ## Fuzz webhook validation (FuzzValidate) for FUZZTIME (default 30s); not part of make test.
	go test ./internal/webhook -run '^$$' -fuzz FuzzValidate -fuzztime $(FUZZTIME)

.PHONY: bench-webhook
bench-webhook: envtest-assets ## Admission latency p50/p99 through a real apiserver (docs/benchmarks.md).
	go test ./internal/webhook -run '^$$' -bench 'BenchmarkAdmission' -benchtime 2000x -count=1 -timeout 10m
	go test ./internal/policy -run '^$$' -bench 'BenchmarkValidateDefault' -benchtime 2000x -count=1
