##@ Upgrade (helm upgrade from the previous release; docs/local-cluster.md)

# hack/upgrade/previous-release is the one home of the previous release's commit.
PREVIOUS_RELEASE = $(shell awk '!/^#/ && NF {print $$1; exit}' hack/upgrade/previous-release)
UPGRADE_TIMEOUT ?= 10m
# The current binary gets its own copy: bin/ may be shared between checkouts,
# and the test must run this tree's code.
UPGRADE_CURRENT_BIN := $(ROOT)/.cache/upgrade/current/dot-ai-controller

.PHONY: previous-release
previous-release: ## Build the previous release's binary and chart into .cache/upgrade/<commit>/ (cached by commit).
	hack/upgrade/build-previous.sh

.PHONY: upgrade-test
upgrade-test: cluster-up helm previous-release ## Upgrade test: the previous release's chart and binary, then helm upgrade to this one (policies, state, counters kept).
	@$(MAKE) --no-print-directory build CONTROLLER_BIN=$(UPGRADE_CURRENT_BIN)
	KUBECONFIG=$(CLUSTER_KUBECONFIG) UPGRADE_PREVIOUS_DIR=$(ROOT)/.cache/upgrade/$(PREVIOUS_RELEASE) UPGRADE_CURRENT_BINARY=$(UPGRADE_CURRENT_BIN) \
	  go test -tags e2e,upgrade ./test/e2e/ -run '^TestUpgrade$$' -count=1 -v -timeout $(UPGRADE_TIMEOUT)
