#!/usr/bin/env bash
# Times `hostdev-discover list --bus pci -n` against
# `lspci -A linux-sysfs -O sysfs.path=TREE/sys/bus/pci -n` on the same
# synthetic trees, and prints each one's time per run and the ratio.
#
#   bench/list-vs-lspci.sh [RUNS] [SIZES...]     default: 20 runs, 1000 and 10000 functions
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
shift || true
sizes=("${@:-1000 10000}")
sizes=(${sizes[@]})

command -v lspci >/dev/null || { echo "lspci not found: apt-get install pciutils" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/hostdev-discover" ./cmd/hostdev-discover
go build -o "$work/mktree" ./bench/mktree

# median of the wall times, in ms, of $runs runs of a command
median_ms() {
	local t=()
	for _ in $(seq "$runs"); do
		local s e
		s=$(date +%s%N)
		"$@" >/dev/null 2>&1
		e=$(date +%s%N)
		t+=($(( (e - s) / 1000 )))
	done
	printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.2f", m/1000}'
}

printf '%-8s %14s %14s %8s %10s %10s\n' functions hostdev_ms lspci_ms ratio hd_us/fn lspci_us/fn
for n in "${sizes[@]}"; do
	tree=$work/tree-$n
	"$work/mktree" -pci "$n" "$tree"
	got=$("$work/hostdev-discover" list --bus pci -n --root "$tree" | wc -l)
	want=$(lspci -A linux-sysfs -O sysfs.path="$tree/sys/bus/pci" -n | wc -l)
	if [ "$got" != "$n" ] || [ "$want" != "$n" ]; then
		echo "tree of $n: hostdev-discover lists $got, lspci $want" >&2
		exit 1
	fi
	# one warm-up each, so both read from the page cache
	"$work/hostdev-discover" list --bus pci -n --root "$tree" >/dev/null
	lspci -A linux-sysfs -O sysfs.path="$tree/sys/bus/pci" -n >/dev/null
	hd=$(median_ms "$work/hostdev-discover" list --bus pci -n --root "$tree")
	ls=$(median_ms lspci -A linux-sysfs -O sysfs.path="$tree/sys/bus/pci" -n)
	awk -v n="$n" -v hd="$hd" -v ls="$ls" 'BEGIN {
		printf "%-8d %14.2f %14.2f %8.2f %10.2f %10.2f\n", n, hd, ls, hd/ls, hd*1000/n, ls*1000/n }'
done
