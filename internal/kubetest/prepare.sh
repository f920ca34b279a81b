#!/usr/bin/env bash
# Builds the Kubernetes control plane the kubetest harness (internal/kubetest)
# starts: kube-apiserver, kube-scheduler and kube-controller-manager from
# k8s.io/kubernetes, and etcd from go.etcd.io/etcd/server/v3, all with
# CGO_ENABLED=0, from the Go module proxy alone (no git, no Docker, no root).
#
# Each is built in a throwaway module in a temporary folder, never in ours:
# k8s.io/kubernetes cannot be required as it is published (its go.mod points
# its staging modules at ./staging), so that module has one
# "replace k8s.io/X => k8s.io/X v0.N.P" line for each of them. etcd gets a
# module of its own, so that its requirements do not move the Kubernetes
# ones (and the other way round).
#
# Idempotent: when the cache folder holds a complete build of these exact
# versions it prints the folder and exits in well under a second. Cold, it
# takes about 12 minutes on 2 cores (most of it kube-apiserver); Go's build
# cache keeps the compiled packages, so a rerun after a failure resumes.
#
#   HOSTDEV_KUBE_BIN   the cache folder (default
#                      $HOME/.cache/hostdev/kube-v1.37.2); the binaries
#                      are put directly in it. internal/kubetest reads the
#                      same variable and the same default.
#
# It prints the folder last.
set -euo pipefail

# Every version is pinned: the proxy here refuses @latest for some modules,
# and kubetest's Go code names the same Kubernetes version (kubetest.Version).
kube_version=v1.37.2
staging_version=v0.37.2
etcd_version=v3.7.3
# The staging modules of k8s.io/kubernetes (its staging/src/k8s.io/).
staging="api apiextensions-apiserver apimachinery apiserver cli-runtime
client-go cloud-provider cluster-bootstrap code-generator component-base
component-helpers controller-manager cri-api cri-client cri-streaming
csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms
kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl
kubelet metrics mount-utils pod-security-admission streaming"
binaries="etcd kube-apiserver kube-scheduler kube-controller-manager"
# Bump when the recipe below changes, so that caches are rebuilt.
recipe="kubernetes=$kube_version etcd=$etcd_version recipe=1"

dir=${HOSTDEV_KUBE_BIN:-${HOME:-/root}/.cache/hostdev/kube-$kube_version}
stamp=$dir/.complete

complete() {
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ] || return 1
	for b in $binaries; do
		[ -x "$dir/$b" ] || return 1
	done
}

if complete; then
	echo "$dir"
	exit 0
fi

mkdir -p "$dir"
# One build at a time per folder: a second caller waits, then finds it done.
exec 9>"$dir/.lock"
flock 9
if complete; then
	echo "$dir"
	exit 0
fi
rm -f "$stamp"

work=$(mktemp -d "${TMPDIR:-/tmp}/hostdev-kube-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# -mod=mod: the throwaway modules start without a go.sum, and every module
# they need comes from the graph of the two pinned requirements (no query
# for a latest version). GOTOOLCHAIN=local: never download another Go.
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=mod"
start=$SECONDS

# The control plane.
mkdir "$work/kube"
{
	echo "module hostdev.invalid/kube-build"
	echo
	echo "go 1.26"
	echo
	echo "require k8s.io/kubernetes $kube_version"
	echo
	for m in $staging; do
		echo "replace k8s.io/$m => k8s.io/$m $staging_version"
	done
} >"$work/kube/go.mod"
# What hack/lib/version.sh stamps into a release build, so that the
# binaries report v1.37.2 (/version, --version, the apiserver's emulation
# version) rather than v0.0.0-master. Only the link reads these.
major=${kube_version#v}
major=${major%%.*}
minor=${kube_version#v*.}
minor=${minor%%.*}
# The build date is the release's date on the proxy, so that two builds
# link alike; the commit is not on the proxy and is left empty.
(cd "$work/kube" && go mod download k8s.io/kubernetes)
build_date=$(cd "$work/kube" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags="$ldflags -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
	ldflags="$ldflags -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done
echo "prepare.sh: building kube-apiserver, kube-scheduler, kube-controller-manager $kube_version (about 10 minutes cold on 2 cores)" >&2
(cd "$work/kube" && go build -ldflags "$ldflags" -o "$work/bin/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kube-controller-manager)

# etcd: its own module, a main that is etcd's.
mkdir "$work/etcd"
cat >"$work/etcd/go.mod" <<EOF
module hostdev.invalid/etcd-build

go 1.26

require go.etcd.io/etcd/server/v3 $etcd_version
EOF
cat >"$work/etcd/main.go" <<'EOF'
// Command etcd is etcd's own main, built from go.etcd.io/etcd/server/v3.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
echo "prepare.sh: building etcd $etcd_version" >&2
(cd "$work/etcd" && go build -ldflags "-s -w" -o "$work/bin/etcd" .)

for b in $binaries; do
	mv -f "$work/bin/$b" "$dir/$b"
done
echo "$recipe" >"$stamp"
echo "prepare.sh: built in $((SECONDS - start)) s" >&2
echo "$dir"
