//! Benchmark, not a test: `bench/bans.sh` runs this (in release mode)
//! inside a fresh network namespace. It times one batch of 100,000
//! distinct bans through the ipset and the nftables backends (median of
//! several runs, fresh sets each run), and, for comparison, one
//! `ipset add` process per ban over the first 5,000 bans (what fail2ban's
//! ipset action does), extrapolated to the whole burst.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use logbus::fail2ban::backend::{BackendDef, Change, GroupInfo};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn quiet(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn members(kind: &str) -> usize {
    if kind == "ipset" {
        let out = Command::new("ipset")
            .args(["list", "-t", "blacklist-bench"])
            .output()
            .expect("ipset list");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Number of entries:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    } else {
        let out = Command::new("nft")
            .args(["-j", "list", "set", "inet", "logbus", "blacklist-bench"])
            .output()
            .expect("nft list");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        json["nftables"]
            .as_array()
            .and_then(|items| items.iter().find_map(|i| i["set"]["elem"].as_array()))
            .map_or(0, Vec::len)
    }
}

/// True when this process runs in the namespace `bench/bans.sh` made (the
/// benchmark must never touch the host's firewall).
fn in_bench_namespace(name: &str) -> bool {
    let ours = std::fs::metadata("/proc/self/ns/net").map(|m| m.ino());
    let theirs = std::fs::metadata(format!("/run/netns/{name}")).map(|m| m.ino());
    matches!((ours, theirs), (Ok(a), Ok(b)) if a == b)
}

#[test]
#[ignore = "benchmark: run bench/bans.sh"]
fn bench_bans() {
    let Ok(ns) = std::env::var("LOGBUS_BENCH_NETNS") else {
        println!("not run: use bench/bans.sh, which makes a network namespace for it");
        return;
    };
    assert!(
        in_bench_namespace(&ns),
        "not inside network namespace {ns}: refusing to touch this firewall"
    );
    let runs = env_num("RUNS", 5).max(1);
    let bans = env_num("BANS", 100_000);
    let loop_n = env_num("LOOP", 5_000).min(bans);
    let ip = |i: usize| IpAddr::from(Ipv4Addr::from(0x0A00_0000 + i as u32));
    let batch: Vec<Change> = (0..bans)
        .map(|i| Change::Ban {
            ip: ip(i),
            group: "bench".into(),
            timeout: Some(Duration::from_secs(3600)),
        })
        .collect();
    let groups = [GroupInfo {
        name: "bench".into(),
        ports: vec![],
    }];

    let mut medians = Vec::new();
    for kind in ["ipset", "nftables"] {
        let mut times = Vec::new();
        for _ in 0..runs {
            // Fresh, empty sets each run.
            quiet("ipset", &["destroy", "blacklist-bench"]);
            quiet("ipset", &["destroy", "blacklist-bench-v6"]);
            quiet("nft", &["delete", "table", "inet", "logbus"]);
            let def: BackendDef =
                serde_yaml_ng::from_str(&format!("{{type: {kind}}}")).expect("yaml");
            let mut backend = def.build().expect("backend");
            backend.start(&groups).expect("start");
            let t = Instant::now();
            backend.apply(&batch).expect("apply");
            times.push(t.elapsed());
            assert_eq!(members(kind), bans, "{kind}: not every ban landed");
        }
        let list: Vec<String> = times
            .iter()
            .map(|t| format!("{:.3}", t.as_secs_f64()))
            .collect();
        println!(
            "{kind:9} one batch of {bans} bans: median {:.3} s  (runs: {})",
            median(times.clone()).as_secs_f64(),
            list.join(" ")
        );
        medians.push((kind, median(times)));
    }

    // For reference, the tools alone on the same bans, from a file (no
    // logbus): what the backends add on top is script building, the pipe,
    // and for nftables the add/delete/add that makes re-bans and unbans of
    // absent addresses safe.
    let dir = tempfile::tempdir().expect("temp dir");
    let ipset_script = dir.path().join("ipset.txt");
    let mut text =
        String::from("create blacklist-raw hash:ip family inet timeout 0 maxelem 1048576\n");
    for i in 0..bans {
        text.push_str(&format!("add blacklist-raw {} timeout 3600\n", ip(i)));
    }
    std::fs::write(&ipset_script, text).expect("write");
    let nft_script = dir.path().join("nft.txt");
    let elems: Vec<String> = (0..bans)
        .map(|i| format!("{} timeout 3600s", ip(i)))
        .collect();
    std::fs::write(
        &nft_script,
        format!(
            "add table inet raw\nadd set inet raw s {{ type ipv4_addr; flags timeout; }}\nadd element inet raw s {{ {} }}\n",
            elems.join(", ")
        ),
    )
    .expect("write");
    for (label, program, args, file) in [
        (
            "ipset restore alone",
            "ipset",
            vec!["restore", "-exist"],
            &ipset_script,
        ),
        ("nft -f alone, one add", "nft", vec!["-f", "-"], &nft_script),
    ] {
        let mut times = Vec::new();
        for _ in 0..runs {
            quiet("ipset", &["destroy", "blacklist-raw"]);
            quiet("nft", &["delete", "table", "inet", "raw"]);
            let input = std::fs::File::open(file).expect("open");
            let t = Instant::now();
            let ok = Command::new(program)
                .args(&args)
                .stdin(input)
                .status()
                .is_ok_and(|s| s.success());
            times.push(t.elapsed());
            assert!(ok, "{label} failed");
        }
        println!(
            "{label:24} {bans} bans: median {:.3} s",
            median(times).as_secs_f64()
        );
    }

    // fail2ban's way: one `ipset add` process per ban.
    quiet("ipset", &["destroy", "blacklist-loop"]);
    assert!(quiet(
        "ipset",
        &[
            "create",
            "blacklist-loop",
            "hash:ip",
            "timeout",
            "0",
            "maxelem",
            "1048576"
        ]
    ));
    let t = Instant::now();
    for i in 0..loop_n {
        let ok = quiet(
            "ipset",
            &[
                "add",
                "blacklist-loop",
                &ip(i).to_string(),
                "timeout",
                "3600",
            ],
        );
        assert!(ok, "ipset add failed");
    }
    let per_process = t.elapsed();
    let extrapolated = per_process.as_secs_f64() * bans as f64 / loop_n.max(1) as f64;
    println!(
        "ipset add, one process per ban: {loop_n} bans in {:.3} s -> {bans} bans ~ {extrapolated:.1} s",
        per_process.as_secs_f64()
    );
    for (kind, m) in medians {
        println!(
            "ratio: per-process loop / {kind} batch = {:.0}x",
            extrapolated / m.as_secs_f64()
        );
    }
}
