//! The whole ban cycle through the real binary and the real kernel, for
//! `ipset` (with `manage_rules`) and `nftables`, IPv4 and IPv6: `logbus
//! run` inside the lab's server namespace reads sshd lines on stdin; the
//! lab's client gets through before the attack line, is dropped after it,
//! gets through again after `logbus bans remove`, and after a short ban
//! (`bantime: 3s`) ends on its own.

mod lab;

use lab::{Fw, Lab, PORTS, Probe, Setup};

fn ban_cycle(lab: &Lab, fw: Fw, v6: bool) {
    let (server, client) = (Lab::server_ip(v6), Lab::client_ip(v6));
    let set = lab::set_name("ssh", v6);
    let setup = Setup::new(fw);
    setup.configure("{ssh: {limit: 1, window: 10m, bantime: 1h}}", "", "");
    let mut daemon = setup.start();

    // `start` prepares the firewall before any ban: the sets exist (rules
    // written by hand may name them) and so do our drop rules.
    assert!(fw.set_exists(&set), "{set} not created at start");
    assert!(!fw.our_rules().is_empty(), "no drop rules at start");
    for port in PORTS {
        lab.assert_connects(server, port);
    }

    daemon.send(&lab::sshd_attack(client));
    let got = lab.wait_for(server, PORTS[0], Probe::TimedOut);
    assert_eq!(
        got,
        Probe::TimedOut,
        "the attack line did not block {client}"
    );
    lab.assert_blocked(server, PORTS[1]);
    assert!(fw.contains(&set, client), "{client} not in {set}");
    let acked = setup.acked();
    assert_eq!(acked.len(), 1, "{acked:#?}");
    assert_eq!(acked[0]["client"]["ip"], client.to_string());
    assert_eq!(acked[0]["fail2ban"]["rule"], "sshd-invalid-user");
    // A ban is per address: the client's address of the other family
    // still gets in.
    lab.assert_connects(Lab::server_ip(!v6), PORTS[0]);

    let out = setup.cli(&["bans", "remove", &client.to_string()]);
    assert!(
        out.ok().contains(&format!("unbanned {client} in ssh")),
        "{out:#?}"
    );
    for port in PORTS {
        lab.assert_connects(server, port);
    }
    assert!(!fw.contains(&set, client), "{client} still in {set}");
    assert_eq!(setup.list(), Vec::<serde_json::Value>::new());

    // Stopping removes our drop rules (the sets stay).
    daemon.stop();
    assert_eq!(
        fw.our_rules(),
        Vec::<String>::new(),
        "rules left after stop"
    );
    assert!(fw.set_exists(&set), "stop removed {set}");

    // A short ban ends on its own: the kernel drops the entry (its
    // timeout), logbus announces the unban and forgets the ban. 3 s, not
    // less: the test must look at the kernel before the ban ends, and the
    // acknowledgement is written only after the kernel took the ban.
    setup.configure("{ssh: {limit: 1, window: 10m, bantime: 3s}}", "", "");
    let mut daemon = setup.start();
    daemon.send(&lab::sshd_attack(client));
    let acked = setup.wait_acked(2, &daemon);
    assert_eq!(acked[1]["fail2ban"]["bantime"], "3s");
    let timeout = fw.entries(&set).get(&client).copied();
    assert!(
        matches!(timeout, Some(Some(1..=3))),
        "{client} should be in {set} with a timeout of at most 3 s: {timeout:?}"
    );
    assert!(
        lab::eventually(|| !fw.contains(&set, client)),
        "the 3 s ban of {client} did not end"
    );
    lab.assert_connects(server, PORTS[0]);
    assert!(
        lab::eventually(|| setup
            .unbans()
            .iter()
            .any(|u| u["client"]["ip"] == client.to_string()
                && u["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("ban time is over"))),
        "no unban announced: {:#?}",
        setup.output("bans.jsonl")
    );
    assert!(
        lab::eventually(|| setup.list().is_empty()),
        "the ended ban is still listed"
    );
    assert_eq!(setup.sql("select count(*) from bans"), "0");
    daemon.stop();
}

#[test]
fn ipset_ipv4_ban_remove_expire() {
    if let Some(lab) = lab::enter("ipset_ipv4_ban_remove_expire") {
        ban_cycle(&lab, Fw::Ipset, false);
    }
}

#[test]
fn ipset_ipv6_ban_remove_expire() {
    if let Some(lab) = lab::enter("ipset_ipv6_ban_remove_expire") {
        ban_cycle(&lab, Fw::Ipset, true);
    }
}

#[test]
fn nftables_ipv4_ban_remove_expire() {
    if let Some(lab) = lab::enter("nftables_ipv4_ban_remove_expire") {
        ban_cycle(&lab, Fw::Nftables, false);
    }
}

#[test]
fn nftables_ipv6_ban_remove_expire() {
    if let Some(lab) = lab::enter("nftables_ipv6_ban_remove_expire") {
        ban_cycle(&lab, Fw::Nftables, true);
    }
}
