#!/usr/bin/env bash
# Builds what a real node needs beyond kube-apiserver and etcd, into the cache outside the
# clone: kubelet, kube-controller-manager, kube-scheduler and kube-proxy from the same
# wrapper module as kube-apiserver (tests/envtest/build-control-plane.sh, whose build cache
# they share), and CoreDNS with only the plugins a cluster's DNS uses. Idempotent: a finished
# build is recognised by its stamp file.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/orchestration-engine"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN_DIR="$CACHE_ROOT/control-plane/$K8S_VERSION/bin"
STAMP="$BIN_DIR/.node-complete-coredns-$COREDNS_VERSION"
COMPONENTS=(kubelet kube-controller-manager kube-scheduler kube-proxy)

if [[ -f "$STAMP" ]]; then
  echo "node binaries $K8S_VERSION (CoreDNS $COREDNS_VERSION) already built in $BIN_DIR"
  exit 0
fi

# kube-apiserver first: its script writes the wrapper module these builds reuse.
bash "$ROOT/tests/envtest/build-control-plane.sh"

export GOMODCACHE="$CACHE_ROOT/go/mod"
export GOCACHE="$CACHE_ROOT/go/build"
export GOEXPERIMENT="${GOEXPERIMENT:-nojsonv2}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="-mod=mod"
minor="${K8S_VERSION#v1.}"
major_minor="${minor%%.*}"
started=$(date +%s)

cd "$CACHE_ROOT/control-plane/$K8S_VERSION/src"
echo "building ${COMPONENTS[*]} $K8S_VERSION (warm cache: about 4 minutes)"
# One invocation: the four share most packages, and go builds them once.
packages=()
for component in "${COMPONENTS[@]}"; do packages+=("k8s.io/kubernetes/cmd/$component"); done
go build -trimpath -ldflags "-s -w \
  -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
  -X k8s.io/component-base/version.gitMajor=1 \
  -X k8s.io/component-base/version.gitMinor=$major_minor \
  -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION" \
  -o "$BIN_DIR/" "${packages[@]}"
echo "node components built in $(( $(date +%s) - started )) s"

# CoreDNS: the full build compiles every cloud plugin; a cluster's DNS needs a handful. The
# directive order is the one CoreDNS's plugin.cfg gives them (it decides which plugin sees a
# query first).
coredns_src="$CACHE_ROOT/coredns/$COREDNS_VERSION/src"
mkdir -p "$coredns_src"
cd "$coredns_src"
cat > main.go <<'GO'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	"github.com/coredns/coredns/coremain"
)

func init() {
	dnsserver.Directives = []string{
		"log", "health", "ready", "errors", "cache", "loadbalance", "kubernetes",
	}
}

func main() { coremain.Run() }
GO
rm -f go.mod go.sum
go mod init eoe.dev/coredns >/dev/null 2>&1
go get "github.com/coredns/coredns@$COREDNS_VERSION" >/dev/null 2>&1
go mod tidy >/dev/null 2>&1
go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/coredns" .
for component in "${COMPONENTS[@]}" coredns; do
  "$BIN_DIR/$component" --version 2>&1 | head -1 || "$BIN_DIR/$component" -version | head -1
done
touch "$STAMP"
echo "node binaries ready in $BIN_DIR ($(( $(date +%s) - started )) s)"
