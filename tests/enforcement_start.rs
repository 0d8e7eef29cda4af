//! `logbus run` prepares the firewall when it starts, not at the first
//! ban: with no ban stored, the sets of every group and (with
//! `manage_rules`) their drop rules exist as soon as the daemon answers,
//! and `logbus status` calls the backend healthy. Rules an administrator
//! writes may name our sets, so they must exist before anyone is banned.

mod lab;

use lab::{Fw, Setup};

fn ready_at_start(fw: Fw) {
    let setup = Setup::new(fw);
    setup.configure(
        "{ssh: {limit: 1, bantime: 1h}, web: {limit: 1, bantime: 1h, ports: [8080]}}",
        "",
        "",
    );
    let daemon = setup.start();
    for group in ["ssh", "web"] {
        for v6 in [false, true] {
            let set = lab::set_name(group, v6);
            assert!(fw.set_exists(&set), "{set} not created at start");
            assert!(fw.entries(&set).is_empty(), "{set} is not empty");
        }
    }
    let rules = fw.our_rules();
    for set in ["blacklist-ssh", "blacklist-web-v6"] {
        assert!(
            rules.iter().any(|r| r.contains(set)),
            "no drop rule for {set} at start: {rules:#?}"
        );
    }
    let status = setup.status();
    assert_eq!(status["backend_ready"], true, "{status:#}");
    assert_eq!(status["backend_ok"], true, "{status:#}");
    daemon.stop();
    assert_eq!(
        fw.our_rules(),
        Vec::<String>::new(),
        "rules left after stop"
    );
}

#[test]
fn ipset_ready_before_the_first_ban() {
    if lab::enter("ipset_ready_before_the_first_ban").is_some() {
        ready_at_start(Fw::Ipset);
    }
}

#[test]
fn nftables_ready_before_the_first_ban() {
    if lab::enter("nftables_ready_before_the_first_ban").is_some() {
        ready_at_start(Fw::Nftables);
    }
}
