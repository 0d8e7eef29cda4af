//! A firewall that is not there yet, then is: the backend's programs
//! (`ipset_path`, `iptables_path`, `ip6tables_path`; `nft_path`) point to
//! a directory where they do not exist. logbus keeps running, keeps the
//! ban it decided (store, `bans list`), reports the failure (its log, the
//! `errors` channel, `logbus status`), and once the programs appear it
//! applies the pending ban within its retry back-off: the client is
//! dropped. Also with only iptables missing (the sets work, the drop rules
//! cannot be made).

mod lab;

use std::time::Duration;

use lab::{Fw, Lab, PORTS, Setup};

/// Longer than the longest retry delay (60 s), with room to spare.
const RETRY_DEADLINE: Duration = Duration::from_secs(90);

/// `missing`: the (option, program) pairs pointed at programs that are
/// not there yet.
fn unavailable_then_available(lab: &Lab, fw: Fw, missing: &[(&str, &str)]) {
    let client = Lab::client_ip(false);
    let server = Lab::server_ip(false);
    let setup = Setup::new(fw);
    let bin = setup.path("bin");
    std::fs::create_dir(&bin).expect("create bin dir");
    let options: Vec<String> = missing
        .iter()
        .map(|(option, tool)| format!("{option}: {}", bin.join(tool).display()))
        .collect();
    setup.configure("{ssh: {limit: 1, bantime: 1h}}", &options.join(", "), "");
    let mut daemon = setup.start();
    let status = setup.status();
    assert_eq!(status["backend_ready"], false, "{status:#}");
    assert_eq!(status["backend_ok"], false, "{status:#}");

    daemon.send(&lab::sshd_attack(client));
    setup.wait_acked(1, &daemon);
    assert!(
        lab::eventually(|| setup.status()["pending_changes"] == 1),
        "no pending change in {:#}",
        setup.status()
    );
    let text = setup.cli(&["status"]);
    assert!(
        text.ok().contains(&format!(
            "firewall: {} (FAILING, retrying), 1 change(s) pending",
            fw.kind()
        )),
        "{text:#?}"
    );
    // The failure names the missing program and the option to fix.
    let (option, _) = missing[0];
    assert!(
        lab::eventually(|| setup.output("errors.jsonl").iter().any(|e| {
            let m = e["message"].as_str().unwrap_or_default();
            e["stage"] == "ban" && m.contains("not found") && m.contains(option)
        })),
        "no error event naming {option}: {:#?}",
        setup.output("errors.jsonl")
    );
    assert!(
        daemon.stderr_now().contains("cannot prepare the firewall"),
        "{}",
        daemon.stderr_now()
    );
    // Kept, not applied, and logbus still runs.
    let listed = setup.list();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["ip"], client.to_string());
    assert_eq!(listed[0]["applied"], false);
    assert_eq!(setup.sql("select applied from bans"), "0");
    assert!(daemon.running(), "logbus stopped:\n{}", daemon.stderr_now());
    lab.assert_connects(server, PORTS[0]);
    // A ban by hand meanwhile is taken, and the operator told it waits.
    let out = setup.cli(&["bans", "add", "198.51.100.4", "--group", "ssh"]);
    out.ok();
    assert!(
        out.stderr.contains("pending and will be retried"),
        "{out:#?}"
    );

    for (_, tool) in missing {
        std::os::unix::fs::symlink(lab::which(tool), bin.join(tool)).expect("symlink the tool");
    }
    assert!(
        lab::eventually_within(RETRY_DEADLINE, || fw.set_exists("blacklist-ssh")
            && fw.contains("blacklist-ssh", client)),
        "the pending ban was not applied once the firewall came back:\n{}",
        daemon.stderr_now()
    );
    lab.assert_blocked(server, PORTS[0]);
    assert!(fw.contains("blacklist-ssh", "198.51.100.4".parse().expect("ip")));
    let status = setup.status();
    assert_eq!(status["pending_changes"], 0, "{status:#}");
    assert_eq!(status["backend_ok"], true, "{status:#}");
    assert!(setup.list().iter().all(|b| b["applied"] == true));
    assert_eq!(
        setup.sql("select count(*) from bans where applied = 1"),
        "2"
    );
    daemon.stop();
    assert_eq!(
        fw.our_rules(),
        Vec::<String>::new(),
        "rules left after stop"
    );
}

#[test]
fn ipset_unavailable_then_available() {
    if let Some(lab) = lab::enter("ipset_unavailable_then_available") {
        unavailable_then_available(&lab, Fw::Ipset, Fw::Ipset.tools());
    }
}

#[test]
fn nftables_unavailable_then_available() {
    if let Some(lab) = lab::enter("nftables_unavailable_then_available") {
        unavailable_then_available(&lab, Fw::Nftables, Fw::Nftables.tools());
    }
}

/// ipset is there but iptables is not: the sets could be filled, but
/// nothing would drop their members, so the ban stays pending until the
/// drop rules can be made.
#[test]
fn ipset_without_iptables_then_with() {
    if let Some(lab) = lab::enter("ipset_without_iptables_then_with") {
        unavailable_then_available(&lab, Fw::Ipset, &Fw::Ipset.tools()[1..]);
    }
}
