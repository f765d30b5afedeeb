##@ Watcher

.PHONY: bench
bench: envtest-assets ## Run every benchmark of the repo (envtest ones included; minutes, not part of make test).
	go test ./... -run='^$$' -bench=. -benchtime=1x -p 1 -timeout 60m

.PHONY: test-watcher
test-watcher: envtest-assets ## Run the event watcher's unit, envtest and SIGKILL restart tests.
	go test ./internal/watcher/... -p 1 -count=1 -timeout 10m
