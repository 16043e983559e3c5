#!/usr/bin/env bash
# bench/instr.sh — instructions per packet of engine benchmarks, counted by
# valgrind's callgrind: deterministic, so it compares two builds of the
# engine even on a loaded or shared machine where wall-clock benchmarks
# drift by tens of percent.
#
# usage: bench/instr.sh [-base COMMIT] [-n N] BENCHMARK...
#   e.g. bench/instr.sh -base 8242b24 BenchmarkForwardKnownUnicast BenchmarkACLCacheHit
#
# Each benchmark runs under callgrind twice, for N and 2N iterations (of 64
# frames each), and the difference divided by 64·N is printed: the setup
# (bridge, rules, learning) cancels out. GC is off and asynchronous
# preemption disabled so that neither adds noise. With -base the same
# benchmarks also run at COMMIT (built from a temporary git worktree) and
# the ratio is printed. Needs valgrind (apt-get install valgrind).
set -euo pipefail
base=""
n=4000
while [ $# -gt 0 ]; do
	case "$1" in
	-base) base=$2; shift 2 ;;
	-n) n=$2; shift 2 ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: $0 [-base COMMIT] [-n N] BENCHMARK..." >&2; exit 2; }
command -v valgrind >/dev/null || { echo "$0: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
cleanup() {
	if [ -n "$base" ] && [ -d "$tmp/base" ]; then git -C "$root" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

(cd "$root" && go test -c -o "$tmp/head.test" ./internal/datapath/)
if [ -n "$base" ]; then
	git -C "$root" worktree add -q --detach "$tmp/base" "$base"
	(cd "$tmp/base" && go test -c -o "$tmp/base.test" ./internal/datapath/)
fi

# count BIN BENCH ITERATIONS -> total instructions
count() {
	local out
	out=$(GOGC=off GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$1" -test.run '^$' -test.bench "^$2\$" -test.benchtime "${3}x" 2>&1)
	grep -q "^$2" <<<"$out" || return 0 # no such benchmark in this build
	sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out"
}
# perpkt BIN BENCH -> instructions per frame (empty if the benchmark is missing)
perpkt() {
	local a b
	a=$(count "$1" "$2" "$n")
	b=$(count "$1" "$2" $((2 * n)))
	[ -n "$a" ] && [ -n "$b" ] || return 0
	echo $(((b - a) / (n * 64)))
}

printf '%-34s %12s' benchmark "head"
[ -n "$base" ] && printf ' %12s %8s' "$base" "ratio"
printf '\n'
for bench in "$@"; do
	h=$(perpkt "$tmp/head.test" "$bench")
	printf '%-34s %12s' "$bench" "${h:-n/a}"
	if [ -n "$base" ]; then
		o=$(perpkt "$tmp/base.test" "$bench")
		if [ -n "$h" ] && [ -n "$o" ]; then
			printf ' %12s %8s' "$o" "$(awk -v a="$h" -v b="$o" 'BEGIN{printf "%.3f", a/b}')"
		else
			printf ' %12s %8s' "${o:-n/a}" "-"
		fi
	fi
	printf '\n'
done
