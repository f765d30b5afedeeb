##@ Monitoring

# promtool comes from Debian's `prometheus` package (apt-get install -y
# --no-install-recommends prometheus, with a policy-rc.d that exits 101 so no
# daemon starts; .ci/run does this): about 15 s to install, against minutes
# to build github.com/prometheus/prometheus/cmd/promtool from the module proxy
# (it links every service discovery). PROMTOOL overrides the path.
PROMTOOL ?= $(shell command -v promtool 2>/dev/null || echo /usr/bin/promtool)

.PHONY: promtool-test
promtool-test: ## promtool check/test rules on the chart's rendered PrometheusRule (test/helm TestPrometheusRulesPromtool).
	@test -x $(PROMTOOL) || { echo "promtool-test needs promtool: apt-get install -y --no-install-recommends prometheus (see make/monitoring.mk)"; exit 1; }
	PROMTOOL=$(PROMTOOL) go test ./test/helm/ -run '^TestPrometheusRulesPromtool$$' -count=1 -v

TEST_EXTRA += promtool-test
