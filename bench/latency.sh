#!/usr/bin/env bash
# Live-log latency and tail throughput.
#
# 1. Latency from a line appended to a followed file to the ban decision:
#      tail -> parse-syslog -> fail2ban (dry-run, rules [sshd], state in a
#      SQLite file on disk) -> bans on stdout
#    A writer appends `Invalid user` lines for distinct addresses at RATE
#    lines/s (each is an immediate ban: limit 1), noting the time just before
#    each append; each ban read from logbus's stdout is matched to its line
#    by address. p50/p99/max over BANS bans per run, RUNS runs, medians.
#    Target: p99 under 50 ms.
# 2. Tail throughput: a LINES-line syslog file appended in one go to a
#    followed file (tail -> stdout, JSON lines): time from the start of the
#    append to the last line on stdout. Next to it, the read-once `file`
#    input on the same file (from process start). ROUNDS rounds, medians.
#
# Usage: bench/latency.sh          (RATE=200 BANS=2000 RUNS=3 LINES=1000000 ROUNDS=3)
# Needs: python3, the generator in ../shared/bench (or GEN=path). Work files
# go to WORK_DIR (default /var/tmp: on disk, so fsyncs cost what they cost).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RATE=${RATE:-200}
BANS=${BANS:-2000}
RUNS=${RUNS:-3}
LINES=${LINES:-1000000}
ROUNDS=${ROUNDS:-3}
GEN=${GEN:-$ROOT/../shared/bench/gen_logs.py}
BIN=${BIN:-$ROOT/target/release/logbus}
WORK=$(mktemp -d "${WORK_DIR:-/var/tmp}/logbus-latency.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

(cd "$ROOT" && cargo build --release --quiet)
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

echo "latency: append -> ban decision, $BANS bans at $RATE/s per run, $RUNS runs"
: >"$WORK/p50"; : >"$WORK/p99"; : >"$WORK/max"
for r in $(seq "$RUNS"); do
  out=$(python3 "$HERE/latency.py" latency --bin "$BIN" --work "$WORK" --rate "$RATE" --bans "$BANS")
  echo "  run $r: $out"
  if [ "$(echo "$out" | field missing)" != 0 ]; then
    echo "bench/latency.sh: bans missing" >&2; exit 1
  fi
  echo "$out" | field p50_ms >>"$WORK/p50"
  echo "$out" | field p99_ms >>"$WORK/p99"
  echo "$out" | field max_ms >>"$WORK/max"
done
printf 'median of runs: p50 %s ms, p99 %s ms, max %s ms (target: p99 < 50 ms)\n' \
  "$(median <"$WORK/p50")" "$(median <"$WORK/p99")" "$(median <"$WORK/max")"

echo
echo "throughput: $LINES lines"
python3 "$GEN" --kind mixed --lines "$LINES" --seed 1 --out "$WORK/mixed.log" >/dev/null
: >"$WORK/tail"; : >"$WORK/file"
for r in $(seq "$ROUNDS"); do
  for mode in tail file; do
    out=$(python3 "$HERE/latency.py" throughput --bin "$BIN" --work "$WORK" \
      --src "$WORK/mixed.log" --lines "$LINES" --mode "$mode")
    echo "  round $r $mode: $out"
    echo "$out" | field lines_per_s >>"$WORK/$mode"
  done
done
printf 'median: tail (appended in one go) %s lines/s; file (read once) %s lines/s\n' \
  "$(median <"$WORK/tail")" "$(median <"$WORK/file")"
