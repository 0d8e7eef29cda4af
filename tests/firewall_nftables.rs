//! The nftables backend on the real kernel, inside a network-namespace lab
//! (see `tests/lab`): bans drop the client's connections, unbans and
//! kernel expiry let them through, ports scope bans, `stop` removes only
//! our chain and never touches other tables, big batches land whole,
//! failures say what to do.

mod lab;

use lab::Fw;

#[test]
fn nftables_ipv4_ban_unban_expiry() {
    if let Some(lab) = lab::enter("nftables_ipv4_ban_unban_expiry") {
        lab::ban_unban_expiry(&lab, Fw::Nftables, false);
    }
}

#[test]
fn nftables_ipv6_ban_unban_expiry() {
    if let Some(lab) = lab::enter("nftables_ipv6_ban_unban_expiry") {
        lab::ban_unban_expiry(&lab, Fw::Nftables, true);
    }
}

#[test]
fn nftables_ipv4_ports_scope_the_ban() {
    if let Some(lab) = lab::enter("nftables_ipv4_ports_scope_the_ban") {
        lab::port_scope(&lab, Fw::Nftables, false);
    }
}

#[test]
fn nftables_ipv6_ports_scope_the_ban() {
    if let Some(lab) = lab::enter("nftables_ipv6_ports_scope_the_ban") {
        lab::port_scope(&lab, Fw::Nftables, true);
    }
}

#[test]
fn nftables_stop_removes_only_our_chain() {
    if lab::enter("nftables_stop_removes_only_our_chain").is_some() {
        lab::stop_removes_only_ours(Fw::Nftables);
    }
}

#[test]
fn nftables_bulk_batches_are_whole_and_idempotent() {
    if lab::enter("nftables_bulk_batches_are_whole_and_idempotent").is_some() {
        lab::bulk_and_idempotent(Fw::Nftables);
    }
}

#[test]
fn nftables_unavailable_then_available() {
    if lab::enter("nftables_unavailable_then_available").is_some() {
        lab::unavailable_then_available(Fw::Nftables);
    }
}

#[test]
fn nftables_refused_then_fixed() {
    if lab::enter("nftables_refused_then_fixed").is_some() {
        lab::refused_then_fixed(Fw::Nftables);
    }
}
