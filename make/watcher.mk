##@ Watcher

.PHONY: bench
bench: envtest-assets ## Run every benchmark of the repo (envtest ones included; minutes, not part of make test).
	go test ./... -run='^$$' -bench=. -benchtime=1x -p 1 -timeout 60m

.PHONY: test-watcher
test-watcher: envtest-assets ## Run the event watcher's unit, envtest and SIGKILL restart tests.
	go test ./internal/watcher/... -p 1 -count=1 -timeout 10m

.PHONY: bench-enrich
bench-enrich: envtest-assets ## End-to-end with enrichment: BENCH_RATE Events/s for BENCH_SECONDS, stub kubelet and MCP (docs/benchmarks.md).
	go test ./cmd/dot-ai-controller -run '^$$' -bench 'BenchmarkEnrichedEvents' -benchtime 1x -count=1 -timeout 20m

.PHONY: bench-memory
bench-memory: envtest-assets ## Peak RSS of the watcher at 0, 50,000 and 100,000 Events, and its selection ceiling (docs/benchmarks.md).
	go test ./internal/watcher -run '^$$' -bench 'BenchmarkMemoryEvents|BenchmarkEventSetLiveBytes|BenchmarkSelectionCeiling' -benchtime 1x -count=1 -timeout 30m
