#!/usr/bin/env bash
# Measures the memory (RSS) of the hostdev-dra binary against a real
# kube-apiserver, with 1,000 USB devices present and through 10,000 plug and
# unplug events, and the time from a plug to the API server with 1 and with
# 1,000 devices present. See BenchmarkDriverRSS and BenchmarkPlugToAPI in
# cmd/hostdev-dra. The control plane is built (or taken from the cache) by
# internal/kubetest/prepare.sh.
#
#   bench/dra-rss.sh [-benchtime 100x]
set -euo pipefail
cd "$(dirname "$0")/.."
internal/kubetest/prepare.sh >/dev/null
benchtime=100x
if [ "${1:-}" = -benchtime ] && [ -n "${2:-}" ]; then benchtime=$2; fi
go test -run XXX -bench 'DriverRSS' -benchtime 1x ./cmd/hostdev-dra | grep -v '^        [IWE][0-9]\{4\}\|^        {'
go test -run XXX -bench 'PlugToAPI' -benchtime "$benchtime" ./cmd/hostdev-dra | grep -v '^        [IWE][0-9]\{4\}\|^        {'
