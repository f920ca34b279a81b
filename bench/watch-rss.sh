#!/usr/bin/env bash
# Measures the memory (RSS) of `hostdev-discover watch` with many USB
# devices present, and after many plug and unplug events, to show that it
# does not grow with the number of events. See bench/watchmem/main.go.
#
#   bench/watch-rss.sh [-devices 10000] [-events 100000] [watchmem flags...]
#
# Trees go under $TMPDIR, /dev/shm (tmpfs) when TMPDIR is unset: on disk
# the benchmark is mostly the writing of the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ]; then
	export TMPDIR=/dev/shm
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/hostdev-discover" ./cmd/hostdev-discover
go build -o "$work/watchmem" ./bench/watchmem
"$work/watchmem" -bin "$work/hostdev-discover" "$@"
