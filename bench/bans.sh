#!/usr/bin/env bash
# Ban throughput of the firewall backends, inside a fresh network namespace
# (the host firewall is never touched):
#   - 100,000 distinct bans in one batch through logbus's ipset backend
#     (one `ipset restore` process) and nftables backend (one `nft -f -`
#     transaction), median of RUNS runs, fresh sets each run;
#   - one `ipset add` process per ban over the first 5,000 bans (what
#     fail2ban's ipset action does), extrapolated to 100,000, and the ratio.
# Target: 100,000 bans in under 2 s.
#
# Usage: sudo bench/bans.sh            (RUNS=5 BANS=100000 LOOP=5000)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "bench/bans.sh: needs root (network namespace, ipset, nft)" >&2
    exit 1
fi
for tool in ip ipset nft; do
    command -v "$tool" >/dev/null || {
        echo "bench/bans.sh: $tool is missing (apt-get install iproute2 ipset nftables)" >&2
        exit 1
    }
done

export RUNS="${RUNS:-5}" BANS="${BANS:-100000}" LOOP="${LOOP:-5000}"

echo "building (release)..."
cargo test --release --test firewall_bench --no-run -q

ns="logbus-bench-$$"
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT

echo "namespace $ns, $(nproc) cores, kernel $(uname -r), $(ipset --version | head -1), $(nft --version)"
ip netns exec "$ns" env LOGBUS_BENCH_NETNS="$ns" \
    cargo test --release --offline -q --test firewall_bench -- \
    --ignored --nocapture --test-threads=1 bench_bans 2>&1 |
    grep -vE '^(running [0-9]+ tests?|test result:.*|test bench_bans.*|\.|)$'
