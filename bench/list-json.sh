#!/usr/bin/env bash
# Times `hostdev-discover list -n --json` against plain `list -n` on the same
# synthetic PCI tree, run in turn (A B A B ...) so that drift in the
# machine's speed hits both, and prints the median wall time, CPU time and
# peak RSS of each and the median of the pairwise ratios.
#
#   bench/list-json.sh [RUNS] [FUNCTIONS]     default: 11 runs, 10000 functions
#
# Targets (issue 11): JSON at most 1.3x the time and 2x the peak RSS of plain.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-11}
n=${2:-10000}
command -v /usr/bin/time >/dev/null || { echo "/usr/bin/time not found: apt-get install time" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/hostdev-discover" ./cmd/hostdev-discover
go build -o "$work/mktree" ./bench/mktree
"$work/mktree" -pci "$n" "$work/tree" >/dev/null

# one run: prints "wall cpu maxrss_kb"
one() {
	/usr/bin/time -f '%e %U %S %M' -o "$work/t" "$work/hostdev-discover" list -n "$@" --root "$work/tree" >/dev/null
	awk '{printf "%s %.3f %s\n", $1, $2+$3, $4}' "$work/t"
}
one >/dev/null
one --json >/dev/null
: >"$work/rows"
for _ in $(seq "$runs"); do
	read -r pw pc pm < <(one)
	read -r jw jc jm < <(one --json)
	echo "$pw $pc $pm $jw $jc $jm" >>"$work/rows"
done
# medians with sort, which every awk lacks in one form or another
med() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
col() { awk -v c="$1" '{print $c}' "$work/rows" | med; }
ratio() { awk -v a="$1" -v b="$2" '{print $a/$b}' "$work/rows" | med; }
printf '%-24s %10s %10s %10s\n' "" "wall s" "cpu s" "peak MiB"
printf '%-24s %10.3f %10.3f %10.1f\n' "list -n" "$(col 1)" "$(col 2)" "$(awk "BEGIN{print $(col 3)/1024}")"
printf '%-24s %10.3f %10.3f %10.1f\n' "list -n --json" "$(col 4)" "$(col 5)" "$(awk "BEGIN{print $(col 6)/1024}")"
printf '%-24s %10.2f %10.2f %10.2f\n' "json/plain (median)" "$(ratio 4 1)" "$(ratio 5 2)" "$(ratio 6 3)"
echo "($runs pairs, $n PCI functions)"
