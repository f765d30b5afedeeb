##@ Local cluster (real Kubernetes parts on 127.0.0.1, no containers; docs/local-cluster.md)

CLUSTER_DIR ?= $(ROOT)/.cache/cluster
# Chart values that put pods on the kwok node (tolerating its taint).
KWOK_PLACEMENT_VALUES := $(ROOT)/hack/cluster/kwok-placement-values.yaml
# Chart values that run the chart's pods on the real node (make ct-install).
REAL_NODE_VALUES := $(ROOT)/hack/cluster/real-node-values.yaml
export CLUSTER_KUBECONFIG := $(CLUSTER_DIR)/kubeconfig
CLUSTER_TOOLS := etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kwok kubelet
# The real node's CRI and OCI runtimes and CNI plugins, from Debian (see
# docs/local-cluster.md for why containerd 1.6 rather than v2 from the proxy).
NODE_PACKAGES := containerd runc containernetworking-plugins
# internal/procnet is built into bin/cluster through hack/cluster's replace directive.
CLUSTER_SRCS := $(wildcard hack/cluster/*.go hack/cluster/go.mod hack/cluster/go.sum hack/cluster/kwok/*.yaml internal/procnet/*.go)
# The harness binary; the e2e suite runs it too (cluster status/restart).
export CLUSTER_BIN ?= $(BIN)/cluster

$(CLUSTER_BIN): $(CLUSTER_SRCS)
	@echo ">> building $(CLUSTER_BIN) (local cluster harness with cert-manager's controllers)"
	cd hack/cluster && go build -o $(CLUSTER_BIN) .

.PHONY: cluster-tools
cluster-tools: ## Build the cluster's binaries into bin/ (no-op once built; ~20 min cold).
	@for t in $(CLUSTER_TOOLS); do hack/build-tool.sh $$t; done

.PHONY: node-packages
node-packages: ## Install the real node's Debian packages (containerd 1.6.20, runc, CNI plugins; root + apt, ~18 s).
	@missing=; for p in $(NODE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing$$missing (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

.PHONY: cluster-up
cluster-up: cluster-tools $(CLUSTER_BIN) ## Start (or reuse) the local cluster; writes .cache/cluster/kubeconfig.
	$(CLUSTER_BIN) up --dir $(CLUSTER_DIR) --bin $(BIN)

.PHONY: cluster-down
cluster-down: ## Stop exactly the processes cluster-up started (PIDs in .cache/cluster/pids).
	@if [ -x $(CLUSTER_BIN) ]; then $(CLUSTER_BIN) down --dir $(CLUSTER_DIR); else echo "cluster: $(CLUSTER_BIN) not built; nothing to stop"; fi

.PHONY: cluster-status
cluster-status: ## Show the cluster's processes and check they only use loopback.
	$(CLUSTER_BIN) status --dir $(CLUSTER_DIR)

.PHONY: cluster-test
cluster-test: ## Unit tests of the cluster harness (its own Go module).
	cd hack/cluster && go test ./... -count=1

# The controller image the real node knows (built from bin/dot-ai-controller,
# no registry, no Docker); the Dockerfile stays for real registries.
NODE_IMAGE ?= $(IMAGE_REPO):local

.PHONY: node-image
node-image: cluster-up build ## Build the controller's OCI image from bin/dot-ai-controller (CONTROLLER_BIN) and import it into the real node.
	$(CLUSTER_BIN) image --dir $(CLUSTER_DIR) --ref $(NODE_IMAGE) --binary $(CONTROLLER_BIN)

.PHONY: node-smoke
node-smoke: node-image ## Real node smoke test: a real crash loop (kubelet BackOff Event, previous logs via the apiserver), the controller image runs.
	cd hack/cluster && KUBECONFIG=$(CLUSTER_KUBECONFIG) CONTROLLER_IMAGE=$(NODE_IMAGE) go test -tags realnode -run TestRealNode -count=1 -v -timeout 5m .
