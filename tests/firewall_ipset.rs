//! The ipset backend on the real kernel, inside a network-namespace lab
//! (see `tests/lab`): bans drop the client's connections, unbans and
//! kernel expiry let them through, ports scope bans, `stop` removes only
//! our iptables rules, big batches land whole, failures say what to do.

mod lab;

use lab::Fw;

#[test]
fn ipset_ipv4_ban_unban_expiry() {
    if let Some(lab) = lab::enter("ipset_ipv4_ban_unban_expiry") {
        lab::ban_unban_expiry(&lab, Fw::Ipset, false);
    }
}

#[test]
fn ipset_ipv6_ban_unban_expiry() {
    if let Some(lab) = lab::enter("ipset_ipv6_ban_unban_expiry") {
        lab::ban_unban_expiry(&lab, Fw::Ipset, true);
    }
}

#[test]
fn ipset_ipv4_ports_scope_the_ban() {
    if let Some(lab) = lab::enter("ipset_ipv4_ports_scope_the_ban") {
        lab::port_scope(&lab, Fw::Ipset, false);
    }
}

#[test]
fn ipset_ipv6_ports_scope_the_ban() {
    if let Some(lab) = lab::enter("ipset_ipv6_ports_scope_the_ban") {
        lab::port_scope(&lab, Fw::Ipset, true);
    }
}

#[test]
fn ipset_stop_removes_only_our_rules() {
    if lab::enter("ipset_stop_removes_only_our_rules").is_some() {
        lab::stop_removes_only_ours(Fw::Ipset);
    }
}

#[test]
fn ipset_bulk_batches_are_whole_and_idempotent() {
    if lab::enter("ipset_bulk_batches_are_whole_and_idempotent").is_some() {
        lab::bulk_and_idempotent(Fw::Ipset);
    }
}

#[test]
fn ipset_unavailable_then_available() {
    if lab::enter("ipset_unavailable_then_available").is_some() {
        lab::unavailable_then_available(Fw::Ipset);
    }
}

#[test]
fn ipset_refused_then_fixed() {
    if lab::enter("ipset_refused_then_fixed").is_some() {
        lab::refused_then_fixed(Fw::Ipset);
    }
}
