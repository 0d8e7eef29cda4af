//! `kill -9` in the middle of a burst of bans: 20,000 distinct attackers
//! are written to logbus's stdin as fast as the pipe takes them, and logbus
//! is killed once some of their bans were acknowledged (written to the
//! `bansChannel` output). The set is then flushed, as by a reboot, and
//! logbus started again. Every acknowledged ban must be in the store and
//! back in the kernel, the store must pass `PRAGMA integrity_check`, and
//! no ban in the store may be missing from the kernel.

mod lab;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use lab::{Fw, Setup};

const BURST: u32 = 20_000;

/// Kill once this many bans are acknowledged.
const KILL_AFTER: usize = 1_000;

fn attacker(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 100, 0, 0)) + i))
}

fn lines_in(path: &std::path::Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

fn ips(rows: &str) -> BTreeSet<IpAddr> {
    rows.lines()
        .map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("not an address: {l:?}"))
        })
        .collect()
}

fn crash(fw: Fw) {
    let setup = Setup::new(fw);
    setup.configure("{ssh: {limit: 1, bantime: 1h}}", "", "");
    let mut daemon = setup.start();
    let mut stdin = daemon.take_stdin();
    let writer = std::thread::spawn(move || {
        let mut chunk = String::new();
        for i in 0..BURST {
            chunk.push_str(&lab::sshd_attack(attacker(i)));
            if chunk.len() > 64 * 1024 {
                // The pipe breaks when logbus is killed: stop there.
                if stdin.write_all(chunk.as_bytes()).is_err() {
                    return None;
                }
                chunk.clear();
            }
        }
        let _ = stdin.write_all(chunk.as_bytes());
        // Handed back, not dropped: an end of input would start a clean
        // shutdown before the kill.
        Some(stdin)
    });

    let bans_file = setup.path("bans.jsonl");
    let end = Instant::now() + lab::DEADLINE;
    while lines_in(&bans_file) < KILL_AFTER {
        assert!(
            Instant::now() < end && daemon.running(),
            "fewer than {KILL_AFTER} bans acknowledged:\n{}",
            daemon.stderr_now()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    daemon.kill9();
    // The writer ends at the broken pipe, or has written everything.
    drop(writer.join().expect("writer thread"));

    let acked: BTreeSet<IpAddr> = setup
        .acked()
        .iter()
        .map(|b| b["client"]["ip"].as_str().expect("ip").parse().expect("ip"))
        .collect();
    let in_kernel_at_kill = fw.entries("blacklist-ssh").len();
    println!(
        "killed with {} of {BURST} bans acknowledged, {in_kernel_at_kill} in the kernel",
        acked.len()
    );
    assert!(acked.len() >= KILL_AFTER);

    // The store as the crash left it: intact, and every acknowledged ban
    // is in it.
    assert_eq!(setup.sql("PRAGMA integrity_check"), "ok");
    let stored = ips(&setup.sql("select ip from bans where ban_group = 'ssh'"));
    let missing: Vec<_> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged ban(s) not in the store, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );

    // A reboot empties the kernel's sets; the store alone brings bans back.
    fw.flush_set("blacklist-ssh");
    let daemon = setup.start();
    let kernel: BTreeSet<IpAddr> = fw.entries("blacklist-ssh").into_keys().collect();
    let stored_now = ips(&setup.sql("select ip from bans where ban_group = 'ssh'"));
    assert_eq!(
        stored_now, stored,
        "the restart changed the bans in the store"
    );
    let lacking: Vec<_> = stored.difference(&kernel).collect();
    assert!(
        lacking.is_empty(),
        "{} stored ban(s) not in the kernel after the restart, e.g. {:?}",
        lacking.len(),
        &lacking[..lacking.len().min(5)]
    );
    assert!(acked.is_subset(&kernel));
    assert_eq!(
        setup.sql("select count(*) from bans where applied = 0"),
        "0",
        "bans the kernel took are not marked applied"
    );
    assert_eq!(setup.sql("PRAGMA integrity_check"), "ok");
    let log = daemon.stop();
    assert!(
        log.contains(&format!("re-applying {} ban(s)", stored.len())),
        "{log}"
    );
}

#[test]
fn ipset_kill9_mid_burst_loses_no_acknowledged_ban() {
    if lab::enter("ipset_kill9_mid_burst_loses_no_acknowledged_ban").is_some() {
        crash(Fw::Ipset);
    }
}

#[test]
fn nftables_kill9_mid_burst_loses_no_acknowledged_ban() {
    if lab::enter("nftables_kill9_mid_burst_loses_no_acknowledged_ban").is_some() {
        crash(Fw::Nftables);
    }
}
