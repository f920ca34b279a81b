#!/usr/bin/env bash
# Times `hostdev-discover list --tree` against plain `list` on the same
# synthetic trees, in the same run: the two in turn (list, tree, list,
# tree, ...), so that a drift in the machine's speed hits both. It prints
# each one's median time and the median of the pairwise ratios tree/list.
# Both read names (no -n) and every bus, as a user would run them.
#
#   bench/list-tree.sh [RUNS] [SIZES...]     default: 20 runs, 1000 and 10000 functions
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
shift || true
sizes=("${@:-1000 10000}")
sizes=(${sizes[@]})

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/hostdev-discover" ./cmd/hostdev-discover
go build -o "$work/mktree" ./bench/mktree

# wall time of one run of a command, in microseconds
run_us() {
	local s e
	s=$(date +%s%N)
	"$@" >/dev/null 2>&1
	e=$(date +%s%N)
	echo $(( (e - s) / 1000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-8s %10s %10s %12s\n' functions list_ms tree_ms tree/list
for n in "${sizes[@]}"; do
	tree=$work/tree-$n
	"$work/mktree" -pci "$n" "$tree"
	list=("$work/hostdev-discover" list --root "$tree")
	tree_cmd=("$work/hostdev-discover" list --tree --root "$tree")
	got=$("${tree_cmd[@]}" | grep -c ' [0-9a-f]*:[0-9a-f]*:[0-9a-f]*\.[0-7] ' || true)
	if [ "$got" != "$n" ]; then
		echo "tree of $n: list --tree draws $got functions" >&2
		exit 1
	fi
	# one warm-up each, so both read from the page cache
	"${list[@]}" >/dev/null
	"${tree_cmd[@]}" >/dev/null
	: >"$work/l" && : >"$work/t" && : >"$work/r"
	for _ in $(seq "$runs"); do
		l=$(run_us "${list[@]}")
		t=$(run_us "${tree_cmd[@]}")
		echo "$l" >>"$work/l"
		echo "$t" >>"$work/t"
		awk -v l="$l" -v t="$t" 'BEGIN {printf "%.4f\n", t/l}' >>"$work/r"
	done
	awk -v n="$n" -v l="$(median <"$work/l")" -v t="$(median <"$work/t")" -v r="$(median <"$work/r")" 'BEGIN {
		printf "%-8d %10.1f %10.1f %12.3f\n", n, l/1000, t/1000, r }'
done
