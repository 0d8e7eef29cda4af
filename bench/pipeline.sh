#!/usr/bin/env bash
# Pipeline throughput: a generated syslog file through
#   file -> parse-syslog -> stdout (to /dev/null)
# and a generated sshd log through the live ban path
#   file -> parse-syslog -> fail2ban (sshd, dry-run) -> (nothing kept)
# next to `wc -l` on the same file, interleaved rounds, medians.
#
# Usage: bench/pipeline.sh            (1,000,000 lines, 5 rounds)
#        LINES=200000 ROUNDS=3 bench/pipeline.sh
# Needs: python3, the generator in ../shared/bench (or GEN=path), a release build.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LINES=${LINES:-1000000}
ROUNDS=${ROUNDS:-5}
GEN=${GEN:-$ROOT/../shared/bench/gen_logs.py}
BIN=${BIN:-$ROOT/target/release/logbus}
WORK=$(mktemp -d /tmp/logbus-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --quiet)
python3 "$GEN" --kind mixed --lines "$LINES" --seed 1 --out "$WORK/mixed.log"
cat > "$WORK/pipeline.yml" <<YAML
pipeline:
  in:     {module: file, paths: [mixed.log]}
  parse:  {module: parse-syslog, inChannels: [in]}
  out:    {module: stdout, inChannels: [parse]}
YAML

python3 "$GEN" --kind sshd --lines "$LINES" --seed 1 --out "$WORK/sshd.log"
cat > "$WORK/fail2ban.yml" <<YAML
pipeline:
  in:     {module: file, paths: [sshd.log]}
  parse:  {module: parse-syslog, inChannels: [in]}
  ban:    {module: fail2ban, inChannels: [parse], rules: [sshd], backend: {type: dry-run}, bansChannel: bans}
  quiet:  {module: filter, inChannels: [ban, bans], when: {event.action: nothing}}
  out:    {module: stdout, inChannels: [quiet]}
YAML

run() { # name command...  -> prints seconds
  local s e
  s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

: >"$WORK/logbus.t"; : >"$WORK/logbus1.t"; : >"$WORK/wc.t"; : >"$WORK/f2b.t"
for r in $(seq "$ROUNDS"); do
  run "$BIN" -q run "$WORK/pipeline.yml" >>"$WORK/logbus.t"
  run "$BIN" -q run "$WORK/fail2ban.yml" >>"$WORK/f2b.t"
  run taskset -c 0 "$BIN" -q run "$WORK/pipeline.yml" >>"$WORK/logbus1.t"
  run wc -l "$WORK/mixed.log" >>"$WORK/wc.t"
done
lb=$(median <"$WORK/logbus.t"); lb1=$(median <"$WORK/logbus1.t"); wc=$(median <"$WORK/wc.t")
f2b=$(median <"$WORK/f2b.t")
printf 'lines: %d, rounds: %d (medians)\n' "$LINES" "$ROUNDS"
printf '%-34s %8.3f s %12.0f lines/s\n' "logbus file->parse-syslog->stdout" "$lb" "$(echo "$LINES / $lb" | bc -l)"
printf '%-34s %8.3f s %12.0f lines/s\n' "  same, pinned to one core" "$lb1" "$(echo "$LINES / $lb1" | bc -l)"
printf '%-34s %8.3f s %12.0f lines/s\n' "sshd log ->parse-syslog->fail2ban" "$f2b" "$(echo "$LINES / $f2b" | bc -l)"
printf '%-34s %8.3f s %12.0f lines/s\n' "wc -l" "$wc" "$(echo "$LINES / $wc" | bc -l)"
printf 'ratio wc/logbus: %.1fx\n' "$(echo "$lb / $wc" | bc -l)"
