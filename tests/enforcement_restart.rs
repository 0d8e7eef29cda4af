//! The state store is the source of truth across restarts: ban, stop
//! logbus (exit 0, our rules gone), flush the set by hand as a reboot
//! would, start logbus again: the ban is back in the kernel and the client
//! is dropped again. A ban whose time passed while logbus was down is not
//! re-applied and is gone from the store.

mod lab;

use lab::{Fw, Lab, PORTS, Probe, Setup};

fn restart(lab: &Lab, fw: Fw) {
    let (c4, c6) = (Lab::client_ip(false), Lab::client_ip(true));
    let setup = Setup::new(fw);
    // ssh bans last an hour; web bans 3 s (both for all ports).
    setup.configure(
        "{ssh: {limit: 1, bantime: 1h}, web: {limit: 1, bantime: 3s}}",
        "",
        "",
    );
    let mut daemon = setup.start();
    daemon.send(&(lab::sshd_attack(c4) + &lab::web_attack(c6)));
    let acked = setup.wait_acked(2, &daemon);
    // SIGTERM at once, a clean stop (exit 0), so that the web ban ends
    // while logbus is down, not while it runs. Our drop rules go, the sets
    // and their entries stay.
    daemon.terminate();
    let short = acked
        .iter()
        .find(|b| b["fail2ban"]["group"] == "web")
        .expect("the web ban");
    assert_eq!(short["client"]["ip"], c6.to_string());
    let short_until = lab::timestamp(&short["fail2ban"]["until"]);
    assert_eq!(setup.sql("select count(*) from bans"), "2");
    assert!(fw.contains("blacklist-ssh", c4), "{c4} was not banned");
    assert_eq!(
        fw.our_rules(),
        Vec::<String>::new(),
        "rules left after stop"
    );
    lab.assert_connects(Lab::server_ip(false), PORTS[0]);

    // A reboot empties the sets.
    fw.flush_set("blacklist-ssh");
    assert!(
        fw.entries("blacklist-ssh").is_empty(),
        "flush did not empty the set"
    );

    // Let the web ban's time pass while logbus is down; the store still
    // holds it until the next start.
    assert!(
        lab::eventually(|| jiff::Timestamp::now() > short_until),
        "the clock did not pass {short_until}"
    );
    assert_eq!(setup.sql("select count(*) from bans"), "2");

    let daemon = setup.start();
    assert!(
        fw.contains("blacklist-ssh", c4),
        "the stored ban of {c4} was not re-applied"
    );
    let got = lab.wait_for(Lab::server_ip(false), PORTS[0], Probe::TimedOut);
    assert_eq!(got, Probe::TimedOut, "{c4} not blocked after the restart");
    assert!(
        !fw.contains("blacklist-web-v6", c6),
        "the ended ban of {c6} was re-applied"
    );
    lab.assert_connects(Lab::server_ip(true), PORTS[0]);
    assert_eq!(
        setup.sql("select ip || ' ' || ban_group || ' ' || applied from bans"),
        format!("{c4} ssh 1"),
        "the store should hold only the ban still in force, applied"
    );
    let listed = setup.list();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["ip"], c4.to_string());
    let log = daemon.stop();
    assert!(log.contains("re-applying 1 ban(s)"), "{log}");
    assert!(
        log.contains("1 ban(s) ended while logbus was not running"),
        "{log}"
    );
}

#[test]
fn ipset_bans_survive_restart() {
    if let Some(lab) = lab::enter("ipset_bans_survive_restart") {
        restart(&lab, Fw::Ipset);
    }
}

#[test]
fn nftables_bans_survive_restart() {
    if let Some(lab) = lab::enter("nftables_bans_survive_restart") {
        restart(&lab, Fw::Nftables);
    }
}

/// A stored ban of an address the allow-list now covers (the operator
/// added its network after the ban) is not sent to the kernel at the next
/// start, and is not kept as a ban either: `bans list` and the store must
/// not call banned an address the kernel lets in.
fn allow_listed_after_the_ban(lab: &Lab, fw: Fw) {
    let client = Lab::client_ip(false);
    let setup = Setup::new(fw);
    setup.configure("{ssh: {limit: 1, bantime: 1h}}", "", "");
    let mut daemon = setup.start();
    daemon.send(&lab::sshd_attack(client));
    setup.wait_acked(1, &daemon);
    daemon.stop();
    assert!(fw.contains("blacklist-ssh", client));
    fw.flush_set("blacklist-ssh");

    setup.configure(
        "{ssh: {limit: 1, bantime: 1h}}",
        "",
        "    allow: [10.231.0.0/24]\n",
    );
    let mut daemon = setup.start();
    assert!(
        !fw.contains("blacklist-ssh", client),
        "an allow-listed address was sent to the kernel"
    );
    lab.assert_connects(Lab::server_ip(false), PORTS[0]);
    assert_eq!(setup.list(), Vec::<serde_json::Value>::new());
    assert_eq!(setup.sql("select count(*) from bans"), "0");
    // Its failures no longer lead to a ban either.
    daemon.send(&lab::sshd_attack(client));
    let log = daemon.stop();
    assert!(!fw.contains("blacklist-ssh", client));
    assert_eq!(setup.acked().len(), 1, "an allow-listed address was banned");
    assert!(
        log.contains(&format!(
            "stored ban of {client} in ssh dropped: the address is allow-listed"
        )),
        "{log}"
    );
}

#[test]
fn ipset_allow_list_checked_at_restart() {
    if let Some(lab) = lab::enter("ipset_allow_list_checked_at_restart") {
        allow_listed_after_the_ban(&lab, Fw::Ipset);
    }
}

#[test]
fn nftables_allow_list_checked_at_restart() {
    if let Some(lab) = lab::enter("nftables_allow_list_checked_at_restart") {
        allow_listed_after_the_ban(&lab, Fw::Nftables);
    }
}
