//! Escalation through the binary: with `escalation: {factor: 2, window:
//! 1d, max: 1w}` and `bantime: 1h`, each new ban of the same address
//! within the day lasts twice the one before (1h, 2h, 4h, ...) up to a
//! week, in the ban decision, in `bans list --json` (`bantime`,
//! `since`..`until`) and in the timeout the kernel holds. The ban history
//! that counts survives a restart.

mod lab;

use std::net::IpAddr;

use lab::{Daemon, Fw, Lab, PORTS, Probe, Setup};

const HOUR: i64 = 3600;
const WEEK: i64 = 7 * 24 * HOUR;

/// Bans `client` once more (after lifting the ban in force, if any) and
/// checks the n-th ban (0-based) lasts `expect_secs`, everywhere.
fn ban_again(setup: &Setup, daemon: &mut Daemon, client: IpAddr, n: usize, expect_secs: i64) {
    let fw = setup.fw;
    if !setup.list().is_empty() {
        setup.cli(&["bans", "remove", &client.to_string()]).ok();
    }
    daemon.send(&lab::sshd_attack(client));
    let acked = setup.wait_acked(n + 1, daemon);
    let decision = &acked[n]["fail2ban"];
    assert_eq!(decision["previous_bans"], n, "ban #{n}: {decision:#}");

    let listed = setup.list();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let ban = &listed[0];
    assert_eq!(ban["ip"], client.to_string());
    assert_eq!(ban["previous_bans"], n);
    assert_eq!(ban["bantime"], decision["bantime"]);
    let span_ms = lab::timestamp(&ban["until"]).as_millisecond()
        - lab::timestamp(&ban["since"]).as_millisecond();
    assert_eq!(
        span_ms,
        expect_secs * 1000,
        "ban #{n} should last {expect_secs} s: {ban:#}"
    );

    // The kernel counts the timeout down from the ban's length: it must be
    // at most that, and far more than the previous ban's (half of it).
    let left = fw
        .entries(&lab::set_name("ssh", client.is_ipv6()))
        .get(&client)
        .copied()
        .flatten()
        .unwrap_or_else(|| panic!("{client} not in the kernel set with a timeout"));
    let left = i64::try_from(left).expect("timeout");
    assert!(
        left <= expect_secs && left > expect_secs * 3 / 4,
        "ban #{n}: the kernel holds {left} s, expected about {expect_secs} s"
    );
}

fn escalation(lab: &Lab, fw: Fw) {
    let client = Lab::client_ip(false);
    let setup = Setup::new(fw);
    setup.configure(
        "{ssh: {limit: 1, window: 10m, bantime: 1h}}",
        "",
        "    escalation: {factor: 2, window: 1d, max: 1w}\n",
    );
    let mut daemon = setup.start();
    ban_again(&setup, &mut daemon, client, 0, HOUR);
    assert_eq!(setup.acked()[0]["fail2ban"]["bantime"], "1h");
    ban_again(&setup, &mut daemon, client, 1, 2 * HOUR);
    assert_eq!(setup.acked()[1]["fail2ban"]["bantime"], "2h");
    let got = lab.wait_for(Lab::server_ip(false), PORTS[0], Probe::TimedOut);
    assert_eq!(got, Probe::TimedOut, "the escalated ban does not block");

    // The history that escalation counts comes back from the store.
    daemon.stop();
    let mut daemon = setup.start();
    ban_again(&setup, &mut daemon, client, 2, 4 * HOUR);
    assert_eq!(setup.acked()[2]["fail2ban"]["bantime"], "4h");

    // 8h, 16h, 32h, 64h, 128h, then the cap: a week, and a week again.
    for n in 3..=7 {
        ban_again(&setup, &mut daemon, client, n, HOUR << n);
    }
    ban_again(&setup, &mut daemon, client, 8, WEEK);
    ban_again(&setup, &mut daemon, client, 9, WEEK);
    daemon.stop();
}

#[test]
fn ipset_escalation_doubles_bans() {
    if let Some(lab) = lab::enter("ipset_escalation_doubles_bans") {
        escalation(&lab, Fw::Ipset);
    }
}

#[test]
fn nftables_escalation_doubles_bans() {
    if let Some(lab) = lab::enter("nftables_escalation_doubles_bans") {
        escalation(&lab, Fw::Nftables);
    }
}
