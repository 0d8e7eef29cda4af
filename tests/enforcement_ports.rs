//! Per-group port scoping through the real binary: with `web` scoped to
//! port 8080 and `ssh` to 2525, a web ban drops the client's connections
//! to 8080 only and an ssh ban adds 2525, per address and family.

mod lab;

use lab::{Fw, Lab, PORTS, Probe, Setup};

const WEB_PORT: u16 = PORTS[0];
const SSH_PORT: u16 = PORTS[1];

fn port_scope(lab: &Lab, fw: Fw) {
    let setup = Setup::new(fw);
    setup.configure(
        &format!(
            "{{ssh: {{limit: 1, bantime: 1h, ports: [{SSH_PORT}]}}, \
              web: {{limit: 1, bantime: 1h, ports: [{WEB_PORT}]}}}}"
        ),
        "",
        "",
    );
    let mut daemon = setup.start();
    let (c4, c6) = (Lab::client_ip(false), Lab::client_ip(true));
    for v6 in [false, true] {
        for port in PORTS {
            lab.assert_connects(Lab::server_ip(v6), port);
        }
    }

    // Web bans of both client addresses: 8080 closes, 2525 stays open.
    daemon.send(&(lab::web_attack(c4) + &lab::web_attack(c6)));
    for v6 in [false, true] {
        let server = Lab::server_ip(v6);
        let got = lab.wait_for(server, WEB_PORT, Probe::TimedOut);
        assert_eq!(
            got,
            Probe::TimedOut,
            "web ban did not close {server}:{WEB_PORT}"
        );
        lab.assert_connects(server, SSH_PORT);
    }
    assert!(fw.contains("blacklist-web", c4));
    assert!(fw.contains("blacklist-web-v6", c6));

    // An ssh ban of the IPv4 address closes 2525 for it, not for IPv6.
    daemon.send(&lab::sshd_attack(c4));
    let got = lab.wait_for(Lab::server_ip(false), SSH_PORT, Probe::TimedOut);
    assert_eq!(
        got,
        Probe::TimedOut,
        "ssh ban did not close port {SSH_PORT}"
    );
    lab.assert_connects(Lab::server_ip(true), SSH_PORT);

    // Lifting only the web ban reopens 8080 and leaves 2525 closed.
    let out = setup.cli(&["bans", "remove", &c4.to_string(), "--group", "web"]);
    assert!(
        out.ok().contains(&format!("unbanned {c4} in web")),
        "{out:#?}"
    );
    lab.assert_connects(Lab::server_ip(false), WEB_PORT);
    lab.assert_blocked(Lab::server_ip(false), SSH_PORT);
    assert!(
        fw.contains("blacklist-ssh", c4),
        "remove --group web lifted the ssh ban"
    );
    daemon.stop();
}

#[test]
fn ipset_group_ports_scope_bans() {
    if let Some(lab) = lab::enter("ipset_group_ports_scope_bans") {
        port_scope(&lab, Fw::Ipset);
    }
}

#[test]
fn nftables_group_ports_scope_bans() {
    if let Some(lab) = lab::enter("nftables_group_ports_scope_bans") {
        port_scope(&lab, Fw::Nftables);
    }
}
