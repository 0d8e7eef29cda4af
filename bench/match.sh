#!/usr/bin/env bash
# `logbus match --rules sshd` against fail2ban-regex (sshd filter) and grep -cE on
# the same generated sshd log, measured side by side by ../shared/bench/anchors.sh
# (interleaved rounds, medians, peak RSS).
#
# Usage: bench/match.sh                   (1,000,000 lines, 3 rounds)
#        LINES=200000 ROUNDS=5 bench/match.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ANCHORS=${ANCHORS:-$ROOT/../shared/bench/anchors.sh}
BIN=${BIN:-$ROOT/target/release/logbus}
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --quiet)
command -v fail2ban-regex >/dev/null || { echo "bench/match.sh: needs fail2ban-regex (apt-get install fail2ban)" >&2; exit 2; }
EXTRA=$(mktemp /tmp/logbus-match-bench.XXXXXX.tsv)
trap 'rm -f "$EXTRA"' EXIT
printf 'logbus-match-sshd\tsshd\t%s match --rules sshd {}\tre:^Failures: \n' "$BIN" >"$EXTRA"
printf 'logbus-match-sshd-json\tsshd\t%s match --rules sshd --json {}\tlines\n' "$BIN" >>"$EXTRA"
LINES=${LINES:-1000000} ROUNDS=${ROUNDS:-3} ONLY=${ONLY:-'^(f2b-sshd|grep-sshd|logbus-match-sshd.*)$'} \
  EXTRA="$EXTRA" "$ANCHORS"
