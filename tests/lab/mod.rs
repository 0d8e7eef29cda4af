//! A network-namespace lab for firewall tests, on the real kernel.
//!
//! Two namespaces with unique names (`lbt<pid>n<counter>s` and `...c`),
//! joined by a veth pair with addresses that exist only inside them:
//! server 10.231.0.1 / fd00:231::1, client 10.231.0.2 / fd00:231::2. A TCP
//! server in the server namespace listens on ports 8080 and 2525 (IPv4 and
//! IPv6) and greets every connection; a probe connects from the client
//! namespace and reports connected, refused or timed out. No packet leaves
//! the two namespaces.
//!
//! A firewall test runs its body *inside* the server namespace: [`enter`]
//! builds a lab, then runs the same test binary again under
//! `ip netns exec SERVER` with only that test selected, so every `ipset`,
//! `iptables` and `nft` the backend starts changes the lab's firewall and
//! nothing else. The lab is torn down when the outer test ends, panicking
//! or not. Tests skip (with a printed reason) when not run as root.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use logbus::fail2ban::backend::{Backend, BackendDef, Change, GroupInfo};

/// Server addresses.
pub const SERVER_V4: &str = "10.231.0.1";
/// Client addresses.
pub const CLIENT_V4: &str = "10.231.0.2";
/// Server IPv6 address.
pub const SERVER_V6: &str = "fd00:231::1";
/// Client IPv6 address.
pub const CLIENT_V6: &str = "fd00:231::2";
/// The server's ports.
pub const PORTS: [u16; 2] = [8080, 2525];

/// Generous upper bound for any wait (a failure detector, not a measurement).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How long a probe waits for a connection. A dropped SYN always takes
/// this long; a permitted one takes milliseconds.
const PROBE_TIMEOUT: &str = "1.5";

/// Set in the environment of the inner run: `SERVER CLIENT MARKER`.
const INNER_ENV: &str = "LOGBUS_LAB_INNER";

static COUNTER: AtomicU32 = AtomicU32::new(0);

const SERVER_PY: &str = r#"
import socket, sys, threading
socks = []
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(64)
    socks.append((s, port))
def serve(s, port):
    while True:
        c, _ = s.accept()
        try:
            c.sendall(b"hello %d\n" % port)
        except OSError:
            pass
        c.close()
for s, port in socks:
    threading.Thread(target=serve, args=(s, port), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"#;

const PROBE_PY: &str = r#"
import socket, sys
host, port, t = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    s = socket.create_connection((host, port), timeout=t)
    data = s.recv(64)
    print("connected" if data.startswith(b"hello") else "other " + repr(data))
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, TimeoutError):
    print("timeout")
except OSError as e:
    print("error " + str(e))
"#;

/// What a connection attempt from the client did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Connected and got the server's greeting.
    Connected,
    /// Refused (RST).
    Refused,
    /// No answer within the probe timeout (dropped).
    TimedOut,
    /// Anything else.
    Other(String),
}

/// A lab. The outer test owns it (and deletes it on drop); the inner run
/// holds a handle that only names it.
pub struct Lab {
    /// Server namespace.
    pub server_ns: String,
    /// Client namespace.
    pub client_ns: String,
    owned: bool,
    server: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

/// True when running as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Python for the lab's server and probes.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Runs the calling test inside a fresh lab's server namespace.
///
/// In the outer run (the test harness), builds the lab, runs this test
/// again inside it, waits, tears the lab down and returns `None` (the
/// outer test body must then return). In the inner run, returns the lab.
/// `test` must be the test's name as the harness knows it.
pub fn enter(test: &str) -> Option<Lab> {
    if let Ok(inner) = std::env::var(INNER_ENV) {
        let parts: Vec<&str> = inner.split(' ').collect();
        let [server, client, marker] = parts[..] else {
            panic!("bad {INNER_ENV}: {inner}");
        };
        std::fs::write(marker, test).expect("write lab marker");
        return Some(Lab {
            server_ns: server.into(),
            client_ns: client.into(),
            owned: false,
            server: None,
            dir: None,
        });
    }
    if !is_root() {
        println!("skipped {test}: needs root (network namespaces and firewall changes)");
        return None;
    }
    let lab = Lab::create();
    let dir = lab.dir.as_ref().expect("owned lab has a dir").path();
    let marker = dir.join("entered");
    let log = dir.join("inner.log");
    let exe = std::env::current_exe().expect("test binary path");
    let out = std::fs::File::create(&log).expect("create inner log");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.server_ns])
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(
            INNER_ENV,
            format!("{} {} {}", lab.server_ns, lab.client_ns, marker.display()),
        )
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup log"))
        .stderr(out)
        .spawn()
        .expect("run the test inside the lab");
    let limit = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for inner run") {
            break Some(status);
        }
        if Instant::now() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    println!("--- inside lab {} ---\n{output}--- end ---", lab.server_ns);
    assert!(
        status.is_some(),
        "{test} did not finish inside the lab in 300s"
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "{test} failed inside the lab:\n{output}"
    );
    assert!(
        marker.exists(),
        "the inner run did not run `{test}`: is the name right?"
    );
    None
}

/// Runs a command and returns its stdout; fails the test when it fails.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command and tells whether it succeeded.
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Deletes lab namespaces left by test processes that no longer exist
/// (killed before their cleanup ran).
fn remove_stale() {
    let Ok(list) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix("lbt") else {
            continue;
        };
        let Some((pid, _)) = rest.split_once('n') else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = succeeds("ip", &["netns", "del", name]);
        }
    }
}

impl Lab {
    /// Builds the namespaces, the link and the server, and waits until the
    /// client reaches the server over IPv4 and IPv6.
    fn create() -> Lab {
        remove_stale();
        let id = format!(
            "lbt{}n{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Lab {
            server_ns: format!("{id}s"),
            client_ns: format!("{id}c"),
            owned: true,
            server: None,
            dir: Some(tempfile::tempdir().expect("temp dir")),
        };
        let (s, c) = (lab.server_ns.clone(), lab.client_ns.clone());
        run_ok("ip", &["netns", "add", &s]);
        run_ok("ip", &["netns", "add", &c]);
        for ns in [&s, &c] {
            run_ok("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        run_ok(
            "ip",
            &[
                "-n", &s, "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns",
                &c,
            ],
        );
        for (ns, v4, v6) in [(&s, SERVER_V4, SERVER_V6), (&c, CLIENT_V4, CLIENT_V6)] {
            run_ok(
                "ip",
                &["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", "veth0"],
            );
            // nodad: usable at once instead of after duplicate detection.
            run_ok(
                "ip",
                &[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{v6}/64"),
                    "dev",
                    "veth0",
                    "nodad",
                ],
            );
            run_ok("ip", &["-n", ns, "link", "set", "veth0", "up"]);
        }
        let mut server = Command::new("ip")
            .args(["netns", "exec", &s, python(), "-c", SERVER_PY])
            .args(PORTS.map(|p| p.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the lab server");
        let stdout = server.stdout.take().expect("server stdout");
        lab.server = Some(server);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(DEADLINE).unwrap_or_default();
        assert_eq!(line.trim(), "ready", "lab server did not start");
        for server_ip in [SERVER_V4, SERVER_V6] {
            let ip: IpAddr = server_ip.parse().expect("address");
            let got = lab.wait_for(ip, PORTS[0], Probe::Connected);
            assert_eq!(
                got,
                Probe::Connected,
                "lab link to {server_ip} does not work"
            );
        }
        lab
    }

    /// The server's address of a family.
    pub fn server_ip(v6: bool) -> IpAddr {
        (if v6 { SERVER_V6 } else { SERVER_V4 })
            .parse()
            .expect("address")
    }

    /// The client's address of a family.
    pub fn client_ip(v6: bool) -> IpAddr {
        (if v6 { CLIENT_V6 } else { CLIENT_V4 })
            .parse()
            .expect("address")
    }

    /// One connection attempt from the client namespace.
    pub fn probe(&self, server: IpAddr, port: u16) -> Probe {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.client_ns, python(), "-c", PROBE_PY])
            .args([
                server.to_string(),
                port.to_string(),
                PROBE_TIMEOUT.to_string(),
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run the probe");
        match String::from_utf8_lossy(&out.stdout).trim() {
            "connected" => Probe::Connected,
            "refused" => Probe::Refused,
            "timeout" => Probe::TimedOut,
            other => Probe::Other(format!(
                "{other} {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    }

    /// Probes until the result is `want` or the deadline passes; returns
    /// the last result.
    pub fn wait_for(&self, server: IpAddr, port: u16, want: Probe) -> Probe {
        let end = Instant::now() + DEADLINE;
        loop {
            let got = self.probe(server, port);
            if got == want || Instant::now() > end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The client reaches the server's port (a probe that timed out on a
    /// busy machine is tried again, until the deadline).
    pub fn assert_connects(&self, server: IpAddr, port: u16) {
        let got = self.wait_for(server, port, Probe::Connected);
        assert_eq!(got, Probe::Connected, "client -> {server}:{port}");
    }

    /// The client's connection to the server's port is dropped.
    pub fn assert_blocked(&self, server: IpAddr, port: u16) {
        let got = self.probe(server, port);
        assert_eq!(
            got,
            Probe::TimedOut,
            "client -> {server}:{port} should be dropped"
        );
    }

    /// A scratch directory (outer run only; the inner run makes its own).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Some(mut server) = self.server.take() {
            drop(server.stdin.take());
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = succeeds("ip", &["netns", "del", &self.server_ns]);
        let _ = succeeds("ip", &["netns", "del", &self.client_ns]);
    }
}

/// A firewall backend under test, with ways to look at the kernel state it
/// made (run inside the lab's server namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fw {
    /// `type: ipset`.
    Ipset,
    /// `type: nftables`.
    Nftables,
}

/// The nftables table the backend uses by default.
pub const NFT_TABLE: &str = "logbus";

impl Fw {
    /// `type: ...` for the backend YAML.
    pub fn kind(self) -> &'static str {
        match self {
            Fw::Ipset => "ipset",
            Fw::Nftables => "nftables",
        }
    }

    /// Builds the backend from `backend:` YAML options (after `type`).
    pub fn backend(self, options: &str) -> Box<dyn Backend> {
        let yaml = if options.is_empty() {
            format!("{{type: {}}}", self.kind())
        } else {
            format!("{{type: {}, {options}}}", self.kind())
        };
        let def: BackendDef = serde_yaml_ng::from_str(&yaml).expect("backend yaml");
        def.build().expect("build backend")
    }

    /// Number of entries in a set.
    pub fn members(self, set: &str) -> usize {
        match self {
            Fw::Ipset => {
                let out = run_ok("ipset", &["list", "-t", set]);
                out.lines()
                    .find_map(|l| l.strip_prefix("Number of entries:"))
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or_else(|| panic!("no entry count in:\n{out}"))
            }
            Fw::Nftables => {
                let out = run_ok("nft", &["-j", "list", "set", "inet", NFT_TABLE, set]);
                let json: serde_json::Value = serde_json::from_str(&out).expect("nft json");
                json["nftables"]
                    .as_array()
                    .and_then(|items| items.iter().find_map(|i| i["set"]["elem"].as_array()))
                    .map_or(0, Vec::len)
            }
        }
    }

    /// Whether a set holds an address.
    pub fn contains(self, set: &str, ip: IpAddr) -> bool {
        match self {
            Fw::Ipset => succeeds("ipset", &["test", set, &ip.to_string()]),
            Fw::Nftables => succeeds(
                "nft",
                &[
                    "get",
                    "element",
                    "inet",
                    NFT_TABLE,
                    set,
                    &format!("{{ {ip} }}"),
                ],
            ),
        }
    }

    /// Whether a set exists.
    pub fn set_exists(self, set: &str) -> bool {
        match self {
            Fw::Ipset => succeeds("ipset", &["list", "-n", set]),
            Fw::Nftables => succeeds("nft", &["list", "set", "inet", NFT_TABLE, set]),
        }
    }

    /// The rules logbus made, as text: for ipset the iptables and
    /// ip6tables rules mentioning a logbus comment, for nftables our chain
    /// (empty when there is none).
    pub fn our_rules(self) -> Vec<String> {
        match self {
            Fw::Ipset => {
                let mut rules = Vec::new();
                for tool in ["iptables", "ip6tables"] {
                    rules.extend(
                        run_ok(tool, &["-w", "-S"])
                            .lines()
                            .filter(|l| l.contains("logbus"))
                            .map(|l| format!("{tool} {l}")),
                    );
                }
                rules
            }
            Fw::Nftables => {
                let out = Command::new("nft")
                    .args(["list", "chain", "inet", NFT_TABLE, "input"])
                    .output()
                    .expect("run nft");
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(str::trim)
                    .filter(|l| l.contains("saddr @"))
                    .map(str::to_string)
                    .collect()
            }
        }
    }
}

/// A group blocking all traffic of banned addresses.
pub fn group_all(name: &str) -> GroupInfo {
    GroupInfo {
        name: name.into(),
        ports: vec![],
    }
}

/// A group blocking only some ports.
pub fn group_ports(name: &str, ports: &[u16]) -> GroupInfo {
    GroupInfo {
        name: name.into(),
        ports: ports.to_vec(),
    }
}

/// A ban.
pub fn ban(ip: IpAddr, group: &str, timeout: Option<Duration>) -> Change {
    Change::Ban {
        ip,
        group: group.into(),
        timeout,
    }
}

/// An unban.
pub fn unban(ip: IpAddr, group: &str) -> Change {
    Change::Unban {
        ip,
        group: group.into(),
    }
}

/// The real path of a program on `PATH` (for tests that make it
/// reachable under another path).
pub fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

/// Polls `cond` until it holds or the deadline passes; returns whether it held.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + DEADLINE;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------
// Scenarios shared by the ipset and nftables tests. Each runs inside the
// lab's server namespace (see `enter`).
// ---------------------------------------------------------------------

const HOUR: Option<Duration> = Some(Duration::from_secs(3600));

fn set_of(group: &str, v6: bool) -> String {
    if v6 {
        format!("blacklist-{group}-v6")
    } else {
        format!("blacklist-{group}")
    }
}

/// The client gets through before a ban, is dropped on every port during
/// it, gets through after the unban, and after a 2 s ban expires in the
/// kernel (without logbus doing anything).
pub fn ban_unban_expiry(lab: &Lab, fw: Fw, v6: bool) {
    let (server, client) = (Lab::server_ip(v6), Lab::client_ip(v6));
    let set = set_of("lab", v6);
    let mut b = fw.backend("manage_rules: true");
    b.start(&[group_all("lab")]).expect("start");
    for port in PORTS {
        lab.assert_connects(server, port);
    }

    b.apply(&[ban(client, "lab", HOUR)]).expect("ban");
    assert!(fw.contains(&set, client), "{client} not in {set}");
    for port in PORTS {
        lab.assert_blocked(server, port);
    }
    // The ban is per family: the client's other address still gets in.
    lab.assert_connects(Lab::server_ip(!v6), PORTS[0]);

    b.apply(&[unban(client, "lab")]).expect("unban");
    assert!(!fw.contains(&set, client), "{client} still in {set}");
    for port in PORTS {
        lab.assert_connects(server, port);
    }

    b.apply(&[ban(client, "lab", Some(Duration::from_secs(2)))])
        .expect("short ban");
    assert!(fw.contains(&set, client), "{client} not in {set}");
    assert!(
        eventually(|| !fw.contains(&set, client)),
        "the kernel did not expire the 2 s ban"
    );
    lab.assert_connects(server, PORTS[0]);
    b.stop().expect("stop");
}

/// A ban in a group with ports drops those ports only.
pub fn port_scope(lab: &Lab, fw: Fw, v6: bool) {
    let (server, client) = (Lab::server_ip(v6), Lab::client_ip(v6));
    let mut b = fw.backend("manage_rules: true");
    b.start(&[group_ports("web", &[PORTS[0]]), group_all("ssh")])
        .expect("start");
    b.apply(&[ban(client, "web", HOUR)]).expect("ban");
    lab.assert_blocked(server, PORTS[0]);
    lab.assert_connects(server, PORTS[1]);
    b.apply(&[unban(client, "web")]).expect("unban");
    lab.assert_connects(server, PORTS[0]);
    b.stop().expect("stop");
}

/// Someone else's firewall state, made before logbus starts; the snapshot
/// must be the same after logbus stops.
fn unrelated_state(fw: Fw) -> String {
    match fw {
        Fw::Ipset => {
            run_ok(
                "iptables",
                &[
                    "-w", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "ACCEPT",
                ],
            );
            run_ok(
                "ip6tables",
                &[
                    "-w", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "ACCEPT",
                ],
            );
            run_ok("ipset", &["create", "other", "hash:ip"]);
            run_ok("ipset", &["add", "other", "192.0.2.1"]);
        }
        Fw::Nftables => {
            let script = "table inet other {
  set keep {
    type ipv4_addr
    elements = { 192.0.2.1 }
  }
  chain c {
    type filter hook input priority 0; policy accept;
    tcp dport 9 accept
  }
}
table ip plain {
  chain input {
    type filter hook input priority 5; policy accept;
  }
}
";
            let mut child = Command::new("nft")
                .args(["-f", "-"])
                .stdin(Stdio::piped())
                .spawn()
                .expect("nft");
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(script.as_bytes())
                .expect("write");
            assert!(child.wait().expect("nft").success());
        }
    }
    unrelated_snapshot(fw)
}

fn unrelated_snapshot(fw: Fw) -> String {
    match fw {
        Fw::Ipset => {
            let mut s = String::new();
            for tool in ["iptables", "ip6tables"] {
                for l in run_ok(tool, &["-w", "-S"]).lines() {
                    if !l.contains("logbus") {
                        s.push_str(l);
                        s.push('\n');
                    }
                }
            }
            s + &run_ok("ipset", &["list", "other"])
        }
        Fw::Nftables => {
            run_ok("nft", &["list", "table", "inet", "other"])
                + &run_ok("nft", &["list", "table", "ip", "plain"])
        }
    }
}

/// `start` is idempotent (also from a second instance, as after a
/// restart), `stop` removes exactly our rules, keeps the sets and their
/// entries, and nothing else in the firewall changes.
pub fn stop_removes_only_ours(fw: Fw) {
    let before = unrelated_state(fw);
    let groups = [group_all("ssh"), group_ports("web", &[80, 443])];
    let mut b = fw.backend("manage_rules: true");
    b.start(&groups).expect("start");
    let rules = fw.our_rules();
    // ssh: one rule per family; web: per family and protocol (ipset), per
    // family (nftables, protocols in one rule).
    let expected = match fw {
        Fw::Ipset => 2 + 4,
        Fw::Nftables => 4,
    };
    assert_eq!(rules.len(), expected, "{rules:#?}");
    b.start(&groups).expect("second start");
    assert_eq!(fw.our_rules(), rules, "start twice duplicated rules");
    let mut again = fw.backend("manage_rules: true");
    again.start(&groups).expect("start of a second instance");
    assert_eq!(fw.our_rules(), rules, "a restart duplicated rules");

    let victim: IpAddr = "192.0.2.7".parse().expect("address");
    b.apply(&[ban(victim, "ssh", HOUR)]).expect("ban");
    b.stop().expect("stop");
    assert_eq!(
        fw.our_rules(),
        Vec::<String>::new(),
        "rules left after stop"
    );
    again.stop().expect("stop of the second instance");
    b.stop().expect("second stop");
    for set in [
        "blacklist-ssh",
        "blacklist-ssh-v6",
        "blacklist-web",
        "blacklist-web-v6",
    ] {
        assert!(fw.set_exists(set), "stop removed set {set}");
    }
    assert!(fw.contains("blacklist-ssh", victim), "stop removed the ban");
    assert_eq!(
        unrelated_snapshot(fw),
        before,
        "logbus changed someone else's firewall"
    );
}

/// 10,000 IPv4 and 1,000 IPv6 bans in one batch land in the sets; the same
/// batch applies twice; unbanning addresses never banned does not fail a
/// batch; the last change for an address within a batch wins.
pub fn bulk_and_idempotent(fw: Fw) {
    let mut b = fw.backend("");
    b.start(&[group_all("bulk")]).expect("start");
    let mut batch: Vec<Change> = (0..10_000u32)
        .map(|i| {
            ban(
                IpAddr::from(std::net::Ipv4Addr::from(0x0A64_0000 + i)),
                "bulk",
                HOUR,
            )
        })
        .collect();
    batch.extend((0..1_000u128).map(|i| {
        ban(
            IpAddr::from(std::net::Ipv6Addr::from(
                0x2001_0db8_0000_0000_0000_0000_0000_1000 + i,
            )),
            "bulk",
            None,
        )
    }));
    b.apply(&batch).expect("10,000 bans");
    assert_eq!(fw.members("blacklist-bulk"), 10_000);
    assert_eq!(fw.members("blacklist-bulk-v6"), 1_000);
    b.apply(&batch).expect("the same batch again");
    assert_eq!(fw.members("blacklist-bulk"), 10_000);
    assert_eq!(fw.members("blacklist-bulk-v6"), 1_000);

    let first = batch[0].clone();
    let never: IpAddr = "198.51.100.1".parse().expect("address");
    let never6: IpAddr = "2001:db8:ffff::1".parse().expect("address");
    let flip: IpAddr = "198.51.100.2".parse().expect("address");
    let flop: IpAddr = "198.51.100.3".parse().expect("address");
    let unbans = [
        unban(never, "bulk"),
        unban(never6, "bulk"),
        unban(first.ip(), "bulk"),
        ban(flip, "bulk", HOUR),
        unban(flip, "bulk"),
        unban(flop, "bulk"),
        ban(flop, "bulk", HOUR),
    ];
    b.apply(&unbans).expect("unbans of absent addresses");
    b.apply(&unbans).expect("the same unbans again");
    assert!(!fw.contains("blacklist-bulk", first.ip()));
    assert!(
        !fw.contains("blacklist-bulk", flip),
        "ban then unban: unbanned"
    );
    assert!(
        fw.contains("blacklist-bulk", flop),
        "unban then ban: banned"
    );
    assert_eq!(fw.members("blacklist-bulk"), 10_000);
}

/// Without the firewall tool, start and apply fail with a message saying
/// what to do; once the tool is there, the same batch applies.
pub fn unavailable_then_available(fw: Fw) {
    let (tool, option) = match fw {
        Fw::Ipset => ("ipset", "ipset_path"),
        Fw::Nftables => ("nft", "nft_path"),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(tool);
    let mut b = fw.backend(&format!("{option}: {}", path.display()));
    let groups = [group_all("down")];
    let batch = [ban("192.0.2.9".parse().expect("address"), "down", HOUR)];
    for err in [
        b.start(&groups)
            .expect_err("start without the tool")
            .to_string(),
        b.apply(&batch)
            .expect_err("apply without the tool")
            .to_string(),
    ] {
        println!("expected error: {err}");
        assert!(err.contains("not found"), "{err}");
        assert!(err.contains(&format!("backend.{option}")), "{err}");
        assert!(err.contains("apt-get install"), "{err}");
    }
    assert!(!fw.set_exists("blacklist-down"));
    std::os::unix::fs::symlink(which(tool), &path).expect("symlink the tool");
    b.apply(&batch).expect("the same batch, tool back");
    assert!(fw.contains("blacklist-down", batch[0].ip()));
}

/// The kernel refuses a batch (a set of the same name made by someone
/// else, with other settings): a clear error; once the set is removed by
/// hand, the same batch applies.
pub fn refused_then_fixed(fw: Fw) {
    let groups = [group_all("legacy")];
    let victim: IpAddr = "192.0.2.10".parse().expect("address");
    let batch = [ban(victim, "legacy", HOUR)];
    let mut b = fw.backend("");
    match fw {
        Fw::Ipset => {
            // fail2ban-style set: no timeout support.
            run_ok("ipset", &["create", "blacklist-legacy", "hash:ip"]);
            b.start(&groups).expect("start uses the existing set");
            let err = b.apply(&batch).expect_err("kernel refuses").to_string();
            println!("expected error: {err}");
            assert!(err.contains("without timeout support"), "{err}");
            assert!(err.contains("ipset destroy"), "{err}");
            run_ok("ipset", &["destroy", "blacklist-legacy"]);
        }
        Fw::Nftables => {
            run_ok("nft", &["add", "table", "inet", NFT_TABLE]);
            run_ok(
                "nft",
                &["add set inet logbus blacklist-legacy { type ipv6_addr; }"],
            );
            let err = b.start(&groups).expect_err("kernel refuses").to_string();
            println!("expected error: {err}");
            assert!(err.contains("File exists"), "{err}");
            assert!(err.contains("nft delete set"), "{err}");
            let err = b.apply(&batch).expect_err("kernel refuses").to_string();
            println!("expected error: {err}");
            assert!(err.contains("nft delete set"), "{err}");
            run_ok(
                "nft",
                &["delete", "set", "inet", NFT_TABLE, "blacklist-legacy"],
            );
        }
    }
    // The set is gone now (destroyed behind logbus's back): the batch
    // recreates it.
    b.apply(&batch).expect("the same batch after the fix");
    assert!(fw.contains("blacklist-legacy", victim));
}

// ---------------------------------------------------------------------
// The real `logbus run` inside the lab, for the enforcement tests
// (`tests/enforcement_*.rs`). All of it runs in the inner run, so logbus,
// the firewall tools it starts and the CLI clients all live in the lab's
// server namespace.
// ---------------------------------------------------------------------

/// The binary under test.
pub const LOGBUS: &str = env!("CARGO_BIN_EXE_logbus");

/// A rule set of the tests' own for a `web` group (`scan PATH from IP`,
/// banned at the first line), so that web bans come from the same syslog
/// stream as the sshd ones.
pub const WEB_RULES: &str = r#"name: lab-web
description: a web scanner probing paths (lab tests)
input: syslog
program: '^nginx$'
group: web
rules:
  - id: lab-web-scan
    match: '^scan (?P<path>\S+) from (?P<ip>[0-9A-Fa-f:.]+)$'
    limit: 1
"#;

/// The syslog timestamp of now, as rsyslog writes it (ISO 8601 with
/// milliseconds): a ban's `since` is the line's time, so lines stamped now
/// make ban times follow the wall clock to the millisecond.
fn stamp() -> String {
    format!("{:.3}", jiff::Timestamp::now()).replace('Z', "+00:00")
}

/// An sshd line that bans `ip` in group `ssh` at once (the built-in
/// `sshd-invalid-user` rule has limit 1).
pub fn sshd_attack(ip: IpAddr) -> String {
    format!(
        "{} srv sshd[123]: Invalid user x from {ip} port 5555\n",
        stamp()
    )
}

/// A web line that bans `ip` in group `web` at once ([`WEB_RULES`]).
pub fn web_attack(ip: IpAddr) -> String {
    format!("{} srv nginx[77]: scan /.env from {ip}\n", stamp())
}

/// The set a group's bans of a family go to (default prefix).
pub fn set_name(group: &str, v6: bool) -> String {
    set_of(group, v6)
}

impl Fw {
    /// A set's members with the timeout the kernel has left for each, in
    /// seconds (`None`: no timeout).
    pub fn entries(self, set: &str) -> std::collections::BTreeMap<IpAddr, Option<u64>> {
        let mut out = std::collections::BTreeMap::new();
        match self {
            Fw::Ipset => {
                let text = run_ok("ipset", &["list", set]);
                let members = text.split_once("Members:\n").map_or("", |(_, m)| m).lines();
                for line in members.filter(|l| !l.trim().is_empty()) {
                    let mut words = line.split_whitespace();
                    let ip: IpAddr = words
                        .next()
                        .and_then(|w| w.parse().ok())
                        .unwrap_or_else(|| panic!("odd ipset member line {line:?}"));
                    let timeout = match (words.next(), words.next()) {
                        (Some("timeout"), Some(n)) => n.parse().ok(),
                        _ => None,
                    };
                    out.insert(ip, timeout);
                }
            }
            Fw::Nftables => {
                let text = run_ok("nft", &["-j", "list", "set", "inet", NFT_TABLE, set]);
                let json: serde_json::Value = serde_json::from_str(&text).expect("nft json");
                let elems = json["nftables"]
                    .as_array()
                    .and_then(|items| items.iter().find_map(|i| i["set"]["elem"].as_array()))
                    .cloned()
                    .unwrap_or_default();
                for e in elems {
                    // A plain string without a timeout, else {"elem": {"val", "timeout", "expires"}}.
                    let (val, expires) = match &e {
                        serde_json::Value::String(s) => (s.clone(), None),
                        other => (
                            other["elem"]["val"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            other["elem"]["expires"].as_u64(),
                        ),
                    };
                    let ip = val
                        .parse()
                        .unwrap_or_else(|_| panic!("odd nft element {e}"));
                    out.insert(ip, expires);
                }
            }
        }
        out
    }

    /// Empties a set by hand, as a reboot or an administrator would.
    pub fn flush_set(self, set: &str) {
        match self {
            Fw::Ipset => run_ok("ipset", &["flush", set]),
            Fw::Nftables => run_ok("nft", &["flush", "set", "inet", NFT_TABLE, set]),
        };
    }

    /// `backend.<option>` naming the firewall program(s) and the programs
    /// themselves, for the unavailable-backend tests.
    pub fn tools(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Fw::Ipset => &[
                ("ipset_path", "ipset"),
                ("iptables_path", "iptables"),
                ("ip6tables_path", "ip6tables"),
            ],
            Fw::Nftables => &[("nft_path", "nft")],
        }
    }
}

/// How a CLI command went.
#[derive(Debug)]
pub struct CliOut {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOut {
    /// Fails the test unless the command exited 0; returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        &self.stdout
    }

    /// Fails the test unless the command failed; returns stderr.
    pub fn failed(&self) -> &str {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "command should have failed: {self:#?}"
        );
        &self.stderr
    }
}

/// Runs a command to completion.
fn cli_output(mut cmd: Command) -> CliOut {
    let out = cmd
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run the logbus CLI");
    CliOut {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The files of one logbus installation (configuration, state store,
/// control socket, outputs) in a temporary directory; they outlive the
/// runs of [`Daemon`] started from them, as on a real host.
pub struct Setup {
    /// The firewall backend.
    pub fw: Fw,
    dir: tempfile::TempDir,
}

impl Setup {
    /// A new installation (no configuration written yet).
    pub fn new(fw: Fw) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("web-rules.yml"), WEB_RULES).expect("write web rules");
        Setup { fw, dir }
    }

    /// A path in the installation's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The pipeline file.
    pub fn config(&self) -> PathBuf {
        self.path("pipeline.yml")
    }

    /// The SQLite state store.
    pub fn state(&self) -> PathBuf {
        self.path("state.db")
    }

    /// The control socket.
    pub fn socket(&self) -> PathBuf {
        self.path("control.sock")
    }

    /// Writes the pipeline: stdin -> parse-syslog -> fail2ban (rule sets
    /// `sshd` and [`WEB_RULES`]) with `groups` (flow YAML), more backend
    /// options `backend` (flow YAML items, may be empty) and more stage
    /// lines `extra` (indented four spaces); ban decisions go to
    /// `bans.jsonl`, the `errors` channel to `errors.jsonl`.
    pub fn configure(&self, groups: &str, backend: &str, extra: &str) {
        let backend = if backend.is_empty() {
            String::new()
        } else {
            format!(", {backend}")
        };
        let yaml = format!(
            "state_path: {state}
control_socket: {socket}
pipeline:
  in:
    module: stdin
  syslog:
    module: parse-syslog
    inChannels: [in]
  ban:
    module: fail2ban
    inChannels: [syslog]
    rules: [sshd, ./web-rules.yml]
    groups: {groups}
    backend: {{type: {kind}, manage_rules: true{backend}}}
    bansChannel: bans
{extra}
  bans-out:
    module: file
    inChannels: [bans]
    path: bans.jsonl
  errors-out:
    module: file
    inChannels: [errors]
    path: errors.jsonl
",
            state = self.state().display(),
            socket = self.socket().display(),
            kind = self.fw.kind(),
        );
        std::fs::write(self.config(), yaml).expect("write pipeline");
    }

    /// Starts `logbus run` and waits until its fail2ban stage has started
    /// (stored bans re-applied) and answers on the control socket.
    pub fn start(&self) -> Daemon {
        let mut child = Command::new(LOGBUS)
            .arg("run")
            .arg(self.config())
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start logbus");
        let stdin = child.stdin.take();
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut chunk = [0u8; 16 * 1024];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr lock")
                    .extend_from_slice(&chunk[..n]);
            }
        });
        let mut daemon = Daemon {
            child,
            stdin,
            stderr,
            reader: Some(reader),
        };
        // The stage answers control requests only once its `start` (restore
        // and first firewall batch) is done, so an answer means "ready".
        let status = serde_json::json!({"cmd": "status"});
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(exit) = daemon.child.try_wait().expect("wait for logbus") {
                panic!("logbus exited at start ({exit}):\n{}", daemon.stderr_now());
            }
            if logbus::control::client::request(&self.socket(), &status).is_ok_and(|a| {
                a["ok"] == true && !a["fail2ban"].as_array().is_none_or(Vec::is_empty)
            }) {
                return daemon;
            }
            assert!(
                Instant::now() < end,
                "logbus did not answer on its control socket:\n{}",
                daemon.stderr_now()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `logbus ARGS --socket SOCKET`, as root.
    pub fn cli(&self, args: &[&str]) -> CliOut {
        let mut cmd = Command::new(LOGBUS);
        cmd.args(args).arg("--socket").arg(self.socket());
        cli_output(cmd)
    }

    /// `logbus ARGS --socket SOCKET` as user and group `nobody` (65534).
    pub fn cli_as_nobody(&self, args: &[&str]) -> CliOut {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", LOGBUS])
            .args(args)
            .arg("--socket")
            .arg(self.socket());
        cli_output(cmd)
    }

    /// `logbus bans list --json`, parsed.
    pub fn list(&self) -> Vec<serde_json::Value> {
        let out = self.cli(&["bans", "list", "--json"]);
        let json: serde_json::Value = serde_json::from_str(out.ok())
            .unwrap_or_else(|e| panic!("bans list --json is not JSON ({e}): {out:#?}"));
        json.as_array()
            .unwrap_or_else(|| panic!("bans list --json is not an array: {json}"))
            .clone()
    }

    /// `logbus status --json`: the fail2ban stage's part.
    pub fn status(&self) -> serde_json::Value {
        let out = self.cli(&["status", "--json"]);
        let json: serde_json::Value = serde_json::from_str(out.ok()).expect("status JSON");
        json["fail2ban"][0].clone()
    }

    /// The complete lines of an output file as JSON (a line cut short by
    /// a killed writer is not a complete line and is left out).
    pub fn output(&self, name: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.path(name)).unwrap_or_default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        complete
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }

    /// Ban decisions written to `bans.jsonl` (acknowledged bans).
    pub fn acked(&self) -> Vec<serde_json::Value> {
        self.output("bans.jsonl")
            .into_iter()
            .filter(|e| e["event"]["action"] == "ban")
            .collect()
    }

    /// Unban decisions written to `bans.jsonl`.
    pub fn unbans(&self) -> Vec<serde_json::Value> {
        self.output("bans.jsonl")
            .into_iter()
            .filter(|e| e["event"]["action"] == "unban")
            .collect()
    }

    /// Waits until `n` bans are acknowledged; returns them.
    pub fn wait_acked(&self, n: usize, daemon: &Daemon) -> Vec<serde_json::Value> {
        let end = Instant::now() + DEADLINE;
        loop {
            let acked = self.acked();
            if acked.len() >= n {
                return acked;
            }
            assert!(
                Instant::now() < end,
                "{} ban(s) acknowledged, waiting for {n}:\n{}",
                acked.len(),
                daemon.stderr_now()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a query with the `sqlite3` tool on the state store.
    pub fn sql(&self, query: &str) -> String {
        run_ok("sqlite3", &[&self.state().display().to_string(), query])
            .trim()
            .to_string()
    }
}

/// A running `logbus run`: its stdin is a pipe the test writes log lines
/// to; its stderr (the log) is collected. Dropping it kills the process,
/// so a failing test never leaves one behind.
pub struct Daemon {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    /// Writes log lines to logbus's stdin.
    pub fn send(&mut self, lines: &str) {
        use std::io::Write;
        let pipe = self.stdin.as_mut().expect("stdin is open");
        pipe.write_all(lines.as_bytes()).expect("write to logbus");
        pipe.flush().expect("flush to logbus");
    }

    /// Hands stdin over (to a writer thread).
    pub fn take_stdin(&mut self) -> std::process::ChildStdin {
        self.stdin.take().expect("stdin is open")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The log so far.
    pub fn stderr_now(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr lock")).into_owned()
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for logbus") {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return status;
            }
            assert!(
                Instant::now() < end,
                "logbus did not exit:\n{}",
                self.stderr_now()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends the input (as a closed log stream does), waits for logbus to
    /// drain and exit, and checks it exited 0. Returns its log.
    pub fn stop(mut self) -> String {
        drop(self.stdin.take());
        let status = self.wait_exit();
        let log = self.stderr_now();
        println!("logbus log:\n{log}");
        assert!(status.success(), "logbus exited with {status}:\n{log}");
        log
    }

    /// SIGTERM, then waits; checks it exited 0. Returns its log.
    pub fn terminate(mut self) -> String {
        run_ok("kill", &["-TERM", &self.pid().to_string()]);
        let status = self.wait_exit();
        let log = self.stderr_now();
        println!("logbus log:\n{log}");
        assert!(status.success(), "logbus exited with {status}:\n{log}");
        log
    }

    /// SIGKILL: no cleanup at all, as a crash or power loss.
    pub fn kill9(mut self) -> String {
        run_ok("kill", &["-KILL", &self.pid().to_string()]);
        let status = self.wait_exit();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "logbus was not killed by SIGKILL: {status}"
        );
        self.stderr_now()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An RFC 3339 time from logbus's output.
pub fn timestamp(v: &serde_json::Value) -> jiff::Timestamp {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {v}"))
}

/// Polls `cond` until it holds or `limit` passes; returns whether it held.
pub fn eventually_within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
