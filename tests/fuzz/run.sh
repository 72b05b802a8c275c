#!/bin/sh
# run.sh: run every libFuzzer target of a build for a while.
#
#   tests/fuzz/run.sh SECONDS [BUILDDIR]
#
# Builds nothing: it runs each tests/fuzz/fuzz_* binary found in BUILDDIR
# (default: $top_builddir, else the current directory) for SECONDS seconds
# on a scratch copy of its seed corpus tests/fuzz/corpus/<target>/ (and
# with tests/fuzz/corpus/<target>.dict when there is one), -max_len=4096, and prints per target the executions reached (libFuzzer's
# -print_final_stats=1) and whether it crashed. A crash's input is kept in
# BUILDDIR/tests/fuzz/crashes/ and shown in hex with the end of the report.
# Exit status 1 when any target crashed (or leaked, or broke an invariant).
#
# Scratch files go to /dev/shm when it is writable (the session targets
# write Maildirs and queue files there), else to $TMPDIR or /tmp.
# FUZZ_JOBS=2 runs two targets at a time; FUZZ_TARGETS="fuzz_sasl ..."
# picks some; FUZZ_TIMEOUT (default 25) is libFuzzer's per-input -timeout.
#
# To replay a kept input: BUILDDIR/tests/fuzz/fuzz_<x> FILE (FUZZ_VERBOSE=1
# shows the server's log lines; FUZZ_ALLOW_KNOWN=1 lets findings already
# reported pass, see fuzz_util.h).
set -u

seconds=${1:-}
case $seconds in
''|*[!0-9]*) echo "usage: $0 SECONDS [BUILDDIR]" >&2; exit 2 ;;
esac
builddir=${2:-${top_builddir:-.}}
srcdir=$(cd "$(dirname "$0")" && pwd)
jobs=${FUZZ_JOBS:-1}
timeout=${FUZZ_TIMEOUT:-25}

targets=
for bin in "$builddir"/tests/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	name=$(basename "$bin")
	case $name in *.*) continue ;; esac
	if [ -n "${FUZZ_TARGETS:-}" ]; then
		case " $FUZZ_TARGETS " in *" $name "*) ;; *) continue ;; esac
	fi
	targets="$targets $name"
done
if [ -z "$targets" ]; then
	echo "run.sh: no fuzz targets in $builddir/tests/fuzz" \
	    "(configure CC=clang --enable-fuzz, then make)" >&2
	exit 2
fi

if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	work=$(mktemp -d /dev/shm/ispmaild-fuzz.XXXXXX)
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/ispmaild-fuzz.XXXXXX")
fi
[ -n "$work" ] && [ -d "$work" ] || { echo "run.sh: no scratch directory" >&2; exit 2; }
trap 'rm -rf "$work"' EXIT INT TERM
crashes=$builddir/tests/fuzz/crashes

# One target: corpus copy, run, summary line in $work/$name/summary.
run_one() {
	name=$1
	dir=$work/$name
	mkdir -p "$dir/corpus" "$dir/artifacts" "$dir/tmp"
	if [ -d "$srcdir/corpus/$name" ]; then
		cp -R "$srcdir/corpus/$name/." "$dir/corpus/"
	fi
	dict=
	if [ -f "$srcdir/corpus/$name.dict" ]; then
		dict=-dict=$srcdir/corpus/$name.dict
	fi
	TMPDIR=$dir/tmp "$builddir/tests/fuzz/$name" \
	    -max_total_time="$seconds" -max_len=4096 -timeout="$timeout" \
	    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" $dict \
	    "$dir/corpus" >"$dir/log" 2>&1 </dev/null
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
	cov=$(sed -n 's/^#[0-9]*[ 	]*DONE[ 	]*cov: \([0-9]*\).*/\1/p' "$dir/log" | tail -n 1)
	if [ -z "$execs" ]; then
		execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$dir/log" | tail -n 1)
	fi
	if [ "$rc" -eq 0 ]; then
		printf '%-20s %10s execs in %ss, cov %s: ok\n' "$name" "${execs:-?}" \
		    "$seconds" "${cov:-?}" >"$dir/summary"
	else
		printf '%-20s %10s execs in %ss: CRASH (exit %s)\n' "$name" "${execs:-?}" \
		    "$seconds" "$rc" >"$dir/summary"
	fi
	return 0
}

# Up to $jobs at a time.
running=0
for name in $targets; do
	run_one "$name" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

failed=0
for name in $targets; do
	dir=$work/$name
	cat "$dir/summary"
	grep -q ': ok$' "$dir/summary" && continue
	failed=1
	mkdir -p "$crashes"
	echo "---- $name: end of the report ----"
	grep -v '^#[0-9]' "$dir/log" | tail -n 60
	for a in "$dir"/artifacts/*; do
		[ -f "$a" ] || continue
		cp "$a" "$crashes/$name-$(basename "$a")"
		echo "---- input kept as $crashes/$name-$(basename "$a") ($(wc -c <"$a") bytes), hex:"
		od -An -tx1 -v "$a" | head -n 64
	done
done
exit "$failed"
