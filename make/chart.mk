##@ Chart

CHART := charts/dot-ai-controller
# Where `make chart-repo` writes the packaged chart and index.yaml, and the
# URL the folder will be served from (empty: relative URLs in index.yaml).
CHART_REPO_DIR ?= dist/chart-repo
CHART_REPO_URL ?=

.PHONY: helm
helm: ## Build helm into bin/.
	hack/build-tool.sh helm

.PHONY: helm-lint
helm-lint: helm ## helm lint --strict the chart, with its defaults and each ci/*-values.yaml.
	$(BIN)/helm lint --strict $(CHART)
	for f in $(CHART)/ci/*-values.yaml; do $(BIN)/helm lint --strict $(CHART) -f $$f; done

.PHONY: ct
ct: ## Build chart-testing's ct into bin/.
	hack/build-tool.sh ct

.PHONY: ct-lint
ct-lint: helm ct ## Run chart-testing's ct lint on every chart (needs yamllint and git).
	hack/build-tool.sh kubectl
	@command -v yamllint >/dev/null || { echo "ct lint needs yamllint: apt-get install -y yamllint"; exit 1; }
	mkdir -p $(ROOT)/.cache
	$(BIN)/ct lint --config ct.yaml --all \
		--chart-yaml-schema hack/ct/chart_schema.yaml --lint-conf hack/ct/lintconf.yaml \
		--validate-chart-schema=false --validate-maintainers=false 2>&1 | tee $(ROOT)/.cache/ct-lint.log
	@grep -q 'dot-ai-controller' $(ROOT)/.cache/ct-lint.log || { echo "ct lint did not name the chart: it linted nothing"; exit 1; }

.PHONY: helm-test
helm-test: envtest-assets ## Run the chart's Go tests (golden, semantic, apiserver dry-run, chart repository).
	go test ./test/helm/... -p 1 -count=1 -timeout 10m

.PHONY: helm-golden
helm-golden: ## Rewrite the chart's golden files (review the diff).
	go test ./test/helm/ -run TestGolden -count=1 -update

.PHONY: helm-docs
helm-docs: ## Regenerate the chart README from values.yaml and README.md.gotmpl.
	hack/build-tool.sh helm-docs
	$(BIN)/helm-docs --chart-search-root charts --skip-version-footer

.PHONY: chart-sync
chart-sync: ## Render the chart's CRD template from config/crd.
	hack/sync-chart-crd.sh

.PHONY: verify-chart
verify-chart: chart-sync helm-docs ## Fail when the chart's CRD or README differs from what the generators write.
	@git diff --exit-code -- $(CHART) || { echo "chart files are stale: run make chart-sync helm-docs and commit"; exit 1; }

.PHONY: chart-repo
chart-repo: helm ## Package the chart and write index.yaml into $(CHART_REPO_DIR) (CHART_REPO_URL sets absolute URLs).
	mkdir -p $(CHART_REPO_DIR)
	$(BIN)/helm package $(CHART) --destination $(CHART_REPO_DIR)
	$(BIN)/helm repo index $(CHART_REPO_DIR) $(if $(CHART_REPO_URL),--url $(CHART_REPO_URL))

TEST_EXTRA += helm-lint ct-lint
verify: verify-chart
