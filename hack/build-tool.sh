#!/usr/bin/env bash
# Builds one pinned tool from the Go module proxy into bin/<name>-<version>
# and links bin/<name> to it. Skips the build when the versioned binary exists,
# so a second run is free. Usage: hack/build-tool.sh <name>
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/bin
mkdir -p "$BIN"

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
CONTROLLER_GEN_VERSION=${CONTROLLER_GEN_VERSION:-v0.23.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
CT_VERSION=${CT_VERSION:-v3.14.0}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
HELM_DOCS_VERSION=${HELM_DOCS_VERSION:-v1.14.2}
# Kept equal to the require in hack/tools/golangci-lint/go.mod.
GOLANGCI_LINT_VERSION=${GOLANGCI_LINT_VERSION:-v2.15.0}

k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
done

name=${1:?usage: hack/build-tool.sh <tool>}
case $name in
  kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kubelet) version=$K8S_VERSION ;;
  etcd) version=$ETCD_VERSION ;;
  controller-gen) version=$CONTROLLER_GEN_VERSION ;;
  helm) version=$HELM_VERSION ;;
  ct) version=$CT_VERSION ;;
  kwok) version=$KWOK_VERSION ;;
  helm-docs) version=$HELM_DOCS_VERSION ;;
  golangci-lint) version=$GOLANGCI_LINT_VERSION ;;
  *) echo "unknown tool: $name" >&2; exit 2 ;;
esac

target=$BIN/$name-$version
if [[ -x $target ]]; then
  ln -sf "$name-$version" "$BIN/$name"
  exit 0
fi

echo ">> building $name $version into bin/ (first time only; this can take minutes)" >&2
start=$(date +%s)
tmp=$target.tmp
case $name in
  kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kubelet)
    # One module, one build cache: the kubelet shares ~1700 of its ~1800
    # packages with the others, so it adds ~4.5 min once they are built.
    (cd hack/tools/k8s && go build -trimpath -ldflags "$k8s_ldflags" -o "$tmp" "k8s.io/kubernetes/cmd/$name") ;;
  etcd)
    (cd hack/tools/etcd && go build -trimpath -ldflags "-s -w" -o "$tmp" .) ;;
  ct)
    (cd hack/tools/ct && go build -trimpath -ldflags "-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=$CT_VERSION" -o "$tmp" github.com/helm/chart-testing/v3/ct) ;;
  controller-gen)
    GOBIN=$BIN/.gobin go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$version" && mv "$BIN/.gobin/controller-gen" "$tmp" ;;
  helm)
    # Stamp the default Kubernetes version as helm's own Makefile does (from
    # its client-go, v0.37 for v3.22), or `helm template`/`helm lint` assume
    # v1.20 and reject a chart's kubeVersion constraint.
    helm_k8s="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
    GOBIN=$BIN/.gobin go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version $helm_k8s" "helm.sh/helm/v3/cmd/helm@$version" && mv "$BIN/.gobin/helm" "$tmp" ;;
  kwok)
    GOBIN=$BIN/.gobin go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$version" && mv "$BIN/.gobin/kwok" "$tmp" ;;
  golangci-lint)
    # golangci-lint plus the logcheck and kube-api-linter module plugins.
    (cd hack/tools/golangci-lint && go build -trimpath -ldflags "-s -w -X main.version=${version#v}" -o "$tmp" .) ;;
  helm-docs)
    GOBIN=$BIN/.gobin go install -ldflags "-s -w" "github.com/norwoodj/helm-docs/cmd/helm-docs@$version" && mv "$BIN/.gobin/helm-docs" "$tmp" ;;
esac
mv "$tmp" "$target"
ln -sf "$name-$version" "$BIN/$name"
echo ">> built $name $version in $(( $(date +%s) - start ))s" >&2
