#!/usr/bin/env bash
# The one test command: installs the system packages the tests need when they
# are missing (Debian, as root or with sudo), then runs rustfmt, clippy and
# the whole test suite. CI runs the same through .ci/run.
#
#   scripts/test.sh
#
# Exits non-zero as soon as a step fails. A second run installs nothing.
set -euo pipefail

# Debian packages the tests use for real (firewall, namespaces, journald,
# `logger`, SQLite, helper scripts). Add new ones here.
PACKAGES=(ipset nftables iptables iproute2 util-linux systemd-journal-remote sqlite3 python3 procps prometheus systemd fail2ban)

cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$SECONDS
step() { printf '\n==> %s\n' "$*"; }
run() {
    printf '+ %s\n' "$*"
    "$@"
}
fail() {
    printf 'scripts/test.sh: %s\n' "$*" >&2
    exit 1
}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

install_packages() {
    if ! command -v dpkg-query >/dev/null; then
        step "not a Debian system: make sure these are installed: ${PACKAGES[*]}"
        return
    fi
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        step "system packages: all present (${PACKAGES[*]})"
        return
    fi
    step "system packages: installing ${missing[*]}"
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || fail "not root and no sudo: install ${missing[*]} first"
        sudo=(sudo)
    fi
    # Wait for another apt (unattended-upgrades on a fresh machine) rather than fail.
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
    run "${apt[@]}" update
    run "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
    for p in "${missing[@]}"; do
        installed "$p" || fail "package $p is still not installed"
    done
}

rust_components() {
    # A minimal rustup profile lacks rustfmt and clippy.
    if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
        return
    fi
    command -v rustup >/dev/null || fail "cargo fmt and cargo clippy are needed (rustup component add rustfmt clippy)"
    step "rust: adding rustfmt and clippy"
    run rustup component add rustfmt clippy
}

install_packages
rust_components

step "format: cargo fmt --check"
run cargo fmt --all -- --check

step "lint: cargo clippy"
run cargo clippy --locked --all-targets -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
    step "tests: cargo nextest"
    run cargo nextest run --locked --no-fail-fast
    step "doc tests: cargo test --doc"
    run cargo test --locked --doc
else
    step "tests: cargo test (install cargo-nextest for faster runs)"
    run cargo test --locked --no-fail-fast
fi

step "all checks passed in $((SECONDS - started))s"
