#!/usr/bin/env bash
# make demo: a local cluster from real Kubernetes parts, the chart, the
# controller binary run as the chart's Deployment configures it, an example
# policy and a crash-looping workload; prints the remediation request the MCP
# server received and the policy status.
#   hack/demo.sh        run the demo (leaves the cluster up to explore)
#   hack/demo.sh down   stop the demo's processes and the cluster
# With DOT_AI_MCP_ENDPOINT (and DOT_AI_MCP_TOKEN) set, a real dot-ai is used
# instead of the stub (it must be reachable on this machine).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=$ROOT/bin:$PATH
DEMO=$ROOT/.cache/demo
export KUBECONFIG=$ROOT/.cache/cluster/kubeconfig
mkdir -p "$DEMO"

stop_pidfile() {
  local f=$1
  [[ -f $f ]] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then kill "$pid"; for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done; fi
  rm -f "$f"
}

if [[ ${1:-} == down ]]; then
  stop_pidfile "$DEMO/run-in-cluster.pid"
  stop_pidfile "$DEMO/mcp-stub.pid"
  make --no-print-directory cluster-down
  exit 0
fi

step() { echo; echo "==> $*"; STEP_START=$SECONDS; }
took() { echo "    (${1:-done} in $((SECONDS - STEP_START))s)"; }

step "Building tools and binaries (first run: ~25 min of compiling, then seconds)"
make --no-print-directory cluster-tools helm build >/dev/null
go build -o bin/mcp-stub ./cmd/mcp-stub
go build -o bin/run-in-cluster ./hack/run-in-cluster
took built

step "Starting the local cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok, cert-manager)"
make --no-print-directory cluster-up
took

stop_pidfile "$DEMO/run-in-cluster.pid"
stop_pidfile "$DEMO/mcp-stub.pid"
ENDPOINT=${DOT_AI_MCP_ENDPOINT:-}
TOKEN=${DOT_AI_MCP_TOKEN:-demo-token}
if [[ -z $ENDPOINT ]]; then
  step "Starting the stub MCP server on 127.0.0.1:3456"
  rm -f "$DEMO/mcp-requests.jsonl"
  bin/mcp-stub --listen 127.0.0.1:3456 --token "$TOKEN" --record-file "$DEMO/mcp-requests.jsonl" >"$DEMO/mcp-stub.log" 2>&1 &
  echo $! >"$DEMO/mcp-stub.pid"
  ENDPOINT=http://127.0.0.1:3456
else
  step "Using the dot-ai at $ENDPOINT"
fi

step "Installing the chart (release dot-ai in namespace dot-ai)"
helm upgrade --install dot-ai charts/dot-ai-controller -n dot-ai --create-namespace --take-ownership --wait --timeout 120s \
  --values hack/cluster/kwok-placement-values.yaml --set mcp.endpoint="$ENDPOINT" --set mcp.authToken="$TOKEN" >/dev/null
took installed

step "Running bin/dot-ai-controller as the chart's Deployment configures it"
bin/run-in-cluster --namespace dot-ai --release dot-ai --workdir "$DEMO/controller" >"$DEMO/run-in-cluster.log" 2>&1 &
echo $! >"$DEMO/run-in-cluster.pid"
for _ in $(seq 120); do grep -q ready "$DEMO/run-in-cluster.log" && break; kill -0 "$(cat "$DEMO/run-in-cluster.pid")" || { cat "$DEMO/run-in-cluster.log"; exit 1; }; sleep 0.5; done
cat "$DEMO/run-in-cluster.log"

step "Applying examples/policy.yaml and a crash-looping workload"
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
for _ in $(seq 60); do kubectl apply -f examples/policy.yaml && break; sleep 1; done
kubectl apply -f examples/crashloop-deployment.yaml

step "Waiting for the remediation request"
if [[ -z ${DOT_AI_MCP_ENDPOINT:-} ]]; then
  for _ in $(seq 240); do [[ -s $DEMO/mcp-requests.jsonl ]] && break; sleep 0.5; done
  if [[ ! -s $DEMO/mcp-requests.jsonl ]]; then
    echo "FAILED: no remediation request reached the stub MCP server within 120s." >&2
    echo "  controller log: $DEMO/controller/controller.log" >&2
    echo "  stub log:       $DEMO/mcp-stub.log" >&2
    echo "  policy status:  kubectl get rp -n demo crashloops -o yaml" >&2
    tail -n 20 "$DEMO/controller/controller.log" >&2 2>/dev/null || true
    exit 1
  fi
  echo "--- request received by the MCP server ($DEMO/mcp-requests.jsonl):"
  head -n1 "$DEMO/mcp-requests.jsonl" | python3 -m json.tool 2>/dev/null || head -n1 "$DEMO/mcp-requests.jsonl"
else
  sleep 15
fi
took

for _ in $(seq 40); do
  [[ -n $(kubectl get remediationpolicies.remediation.dot-ai.io -n demo crashloops -o jsonpath='{.status.recentOutcomes}' 2>/dev/null) ]] && break; sleep 0.5
done
echo "--- kubectl get rp -n demo crashloops -o yaml (status):"
kubectl get remediationpolicies.remediation.dot-ai.io -n demo crashloops -o jsonpath='{.status}' | python3 -m json.tool 2>/dev/null || true

cat <<MSG

Done. Explore with: export KUBECONFIG=$KUBECONFIG; kubectl get rp -A; kubectl get events -n demo
Controller log: $DEMO/controller/controller.log

Point it at a real dot-ai:
  DOT_AI_MCP_ENDPOINT=http://127.0.0.1:3456 DOT_AI_MCP_TOKEN=<token> make demo
  (in a real cluster: helm install ... --set mcp.endpoint=<dot-ai URL> --set mcp.existingSecret=<secret with the token>)
Tear down: make demo-down
MSG
