##@ Cluster stages (chart-testing install, end-to-end, demo; docs/local-cluster.md)

E2E_TIMEOUT ?= 10m

.PHONY: ct-install
ct-install: node-image helm ct ## ct install --all of charts/ against the local cluster: the controller and `helm test` as real pods on the real node (install, helm test, uninstall per ci/*-values.yaml).
	@mkdir -p $(ROOT)/.cache
	@# The CRD is kept on uninstall (helm.sh/resource-policy: keep), so each
	@# later ci/*-values.yaml release must adopt it: --take-ownership on install.
	@# The chart's pods run on the real node (hack/cluster/real-node-values.yaml);
	@# a watch records each release's controller pod to prove it ran there.
	@KUBECONFIG=$(CLUSTER_KUBECONFIG) $(BIN)/kubectl get pods -A -w --no-headers -l app.kubernetes.io/component=controller \
	  -o custom-columns='NS:.metadata.namespace,NODE:.spec.nodeName,ID:.status.containerStatuses[0].containerID,READY:.status.containerStatuses[0].ready' \
	  > $(ROOT)/.cache/ct-install-pods.log 2>&1 & echo $$! > $(ROOT)/.cache/ct-install-watch.pid
	rc=0; KUBECONFIG=$(CLUSTER_KUBECONFIG) $(BIN)/ct install --config ct.yaml --all --helm-extra-set-args="--take-ownership --values=$(REAL_NODE_VALUES)" 2>&1 | tee $(ROOT)/.cache/ct-install.log || rc=$$?; \
	  kill $$(cat $(ROOT)/.cache/ct-install-watch.pid); exit $$rc
	@grep -q '✔︎ dot-ai-controller' $(ROOT)/.cache/ct-install.log || { echo "ct install did not pass the dot-ai-controller chart"; exit 1; }
	@want=$$(ls charts/dot-ai-controller/ci/*-values.yaml | wc -l); \
	got=$$(awk '$$2 == "127.0.0.1" && $$3 ~ /^containerd:\/\/[0-9a-f]+$$/ && $$4 == "true" {print $$1}' $(ROOT)/.cache/ct-install-pods.log | sort -u | wc -l); \
	[ "$$got" -eq "$$want" ] || { echo "ct install: $$got of $$want releases had a Ready controller container on the real node (.cache/ct-install-pods.log)"; exit 1; }; \
	echo "ct install: each of the $$want releases ran its controller as a real container (containerd://) on the real node 127.0.0.1, Ready"

.PHONY: e2e
e2e: cluster-up build helm node-image plugin ## End-to-end tests against the local cluster (the controller as the chart's pod on the real node; E2E_HOST_CONTROLLER=1: the binary on this machine).
	KUBECONFIG=$(CLUSTER_KUBECONFIG) CONTROLLER_BIN=$(CONTROLLER_BIN) PLUGIN_BIN=$(PLUGIN_BIN) go test -tags e2e ./test/e2e/... -count=1 -v -timeout $(E2E_TIMEOUT)

RELIABILITY_RUN ?= TestReliability

.PHONY: reliability
reliability: cluster-up build helm node-image ## Reliability suite at full size (faults and load; figures in .cache/reliability/full.md, docs/reliability.md).
	go test -tags reliability ./internal/remediation/ -run TestStormBounds10k -count=1 -v -timeout 30m
	KUBECONFIG=$(CLUSTER_KUBECONFIG) CONTROLLER_BIN=$(CONTROLLER_BIN) RELIABILITY_SCALE=full go test -tags e2e,reliability ./test/e2e/ -run '$(RELIABILITY_RUN)' -count=1 -v -timeout 90m

.PHONY: reliability-short
reliability-short: cluster-up build helm node-image ## Reliability suite at the sizes CI runs (.cache/reliability/short.md).
	KUBECONFIG=$(CLUSTER_KUBECONFIG) CONTROLLER_BIN=$(CONTROLLER_BIN) RELIABILITY_SCALE=short go test -tags e2e,reliability ./test/e2e/ -run '$(RELIABILITY_RUN)' -count=1 -v -timeout 30m

.PHONY: demo
demo: ## One-command demo: cluster, chart, example policy, crash-looping workload, the MCP request (hack/demo.sh).
	hack/demo.sh

.PHONY: demo-down
demo-down: ## Stop the demo's processes and the local cluster.
	hack/demo.sh down

.PHONY: ci-cluster-stages
ci-cluster-stages: ## CI: cluster harness tests, cluster-up, real node smoke test, ct-install, e2e, upgrade test, short reliability, cluster-down, each timed (called by .ci/run after make test).
	@set -e; trap '$(MAKE) --no-print-directory cluster-down' EXIT; \
	for s in cluster-test cluster-up node-smoke ct-install e2e upgrade-test reliability-short cluster-down; do \
	  start=$$(date +%s); echo "::: cluster stage $$s"; \
	  $(MAKE) --no-print-directory $$s; \
	  echo "::: cluster stage $$s took $$(( $$(date +%s) - start ))s"; \
	done

##@ kind path (machines with Docker; not runnable on this machine)

KIND ?= kind
KIND_CLUSTER ?= dot-ai-e2e
CERT_MANAGER_CHART_VERSION ?= v1.21.2

.PHONY: e2e-kind
e2e-kind: helm ## kind cluster, image loaded, cert-manager chart, ct install, e2e with the chart's own pod (needs Docker and kind).
	$(KIND) create cluster --name $(KIND_CLUSTER) --wait 120s
	docker build -t $(IMG) .
	$(KIND) load docker-image $(IMG) --name $(KIND_CLUSTER)
	$(BIN)/helm repo add jetstack https://charts.jetstack.io --force-update
	$(BIN)/helm install cert-manager jetstack/cert-manager --version $(CERT_MANAGER_CHART_VERSION) -n cert-manager --create-namespace --set crds.enabled=true --wait
	$(BIN)/ct install --config ct.yaml --all --helm-extra-set-args="--take-ownership --set=image.repository=$(firstword $(subst :, ,$(IMG))) --set=image.tag=$(VERSION)"
	E2E_EXTERNAL_CONTROLLER=1 go test -tags e2e ./test/e2e/... -count=1 -v -timeout $(E2E_TIMEOUT)
