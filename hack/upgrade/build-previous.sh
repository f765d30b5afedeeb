#!/usr/bin/env bash
# Builds the previous release (the commit in hack/upgrade/previous-release)
# for the upgrade test: its controller binary and its chart, from `git archive`
# of that commit (its own go.mod, the same Go toolchain), into
# .cache/upgrade/<commit>/{dot-ai-controller,chart/}. Cached by commit: a
# rerun with the directory complete does nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

commit=$(awk '!/^#/ && NF {print $1; exit}' hack/upgrade/previous-release)
out=.cache/upgrade/$commit
if [[ -f $out/complete ]]; then
  echo "upgrade: previous release $commit already built in $out"
  exit 0
fi
if ! git cat-file -e "$commit^{commit}" 2>/dev/null; then
  echo "upgrade: commit $commit (hack/upgrade/previous-release) is not in this clone; a shallow clone needs 'git fetch --unshallow'" >&2
  exit 1
fi

echo ">> building the previous release $commit into $out"
mkdir -p .cache/upgrade
rm -rf "$out"
src=$(mktemp -d .cache/upgrade/src.XXXXXX)
trap 'rm -rf "$src"' EXIT
git archive "$commit" | tar -x -C "$src"
mkdir -p "$out"
# GOTOOLCHAIN=local: the toolchain that builds the current binary, never a
# download the old go.mod might ask for.
(cd "$src" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X dot-ai.io/controller/internal/version.Version=$commit" \
  -o "$OLDPWD/$out/dot-ai-controller" ./cmd/dot-ai-controller)
cp -R "$src/charts/dot-ai-controller" "$out/chart"
touch "$out/complete"
