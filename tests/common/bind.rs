//! A real BIND 9 (`named`) for DNS-01 tests: primary zones on a free 127.0.0.1 port,
//! dynamic updates allowed with a generated TSIG key (hmac-sha256, `acme-key`).
//!
//! Needs `named`, `tsig-keygen` and `dig` (Debian: `bind9`, `bind9-dnsutils`).

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The TSIG key's name.
pub const KEY_NAME: &str = "acme-key";

/// A primary zone to serve.
#[derive(Clone, Debug)]
pub struct ZoneSpec {
    /// The zone's name, without trailing dot (`example.com`).
    pub name: String,
    /// Extra zone-file lines, e.g. `_acme-challenge.app IN CNAME target.example.net.`.
    pub records: Vec<String>,
}

impl ZoneSpec {
    /// A zone with its SOA, `NS ns1.<zone>`, `ns1 A 127.0.0.1` and `* A 127.0.0.1`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.trim_end_matches('.').to_string(),
            records: Vec::new(),
        }
    }

    /// Adds a zone-file line.
    pub fn with_record(mut self, line: &str) -> Self {
        self.records.push(line.to_string());
        self
    }
}

/// A running `named`, killed on drop (or, should the test process die without
/// dropping it, by a watchdog once that process is gone).
pub struct Bind {
    child: Child,
    watchdog: Option<Child>,
    dir: PathBuf,
    port: u16,
    secret: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn free_port() -> Option<u16> {
    let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
    let port = udp.local_addr().ok()?.port();
    let tcp = TcpListener::bind(("127.0.0.1", port)).ok()?;
    drop(tcp);
    drop(udp);
    Some(port)
}

fn zone_file(zone: &ZoneSpec, all: &[ZoneSpec]) -> String {
    let z = &zone.name;
    let mut s = format!(
        "$ORIGIN {z}.\n$TTL 60\n\
         @ IN SOA ns1.{z}. hostmaster.{z}. 1 3600 600 86400 60\n\
         @ IN NS ns1.{z}.\n\
         ns1 IN A 127.0.0.1\n\
         * IN A 127.0.0.1\n"
    );
    // Delegate child zones served by the same server, with glue.
    for child in all {
        if let Some(label) = child.name.strip_suffix(&format!(".{z}")) {
            let _ = writeln!(s, "{label} IN NS ns1.{}.", child.name);
            let _ = writeln!(s, "ns1.{label} IN A 127.0.0.1");
        }
    }
    for r in &zone.records {
        s.push_str(r);
        s.push('\n');
    }
    s
}

impl Bind {
    /// Starts `named` serving `zones`; panics when it cannot.
    pub fn start(zones: &[ZoneSpec]) -> Bind {
        let dir = std::env::temp_dir().join(format!(
            "certgate-bind-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating the BIND directory");

        let keygen = Command::new("tsig-keygen")
            .args(["-a", "hmac-sha256", KEY_NAME])
            .output()
            .expect("running tsig-keygen (install bind9)");
        assert!(keygen.status.success(), "tsig-keygen failed");
        let key_text = String::from_utf8(keygen.stdout).expect("tsig-keygen output");
        let secret = key_text
            .lines()
            .find_map(|l| {
                let l = l.trim();
                l.strip_prefix("secret \"")
                    .and_then(|rest| rest.strip_suffix("\";"))
            })
            .expect("a secret in tsig-keygen's output")
            .to_string();
        std::fs::write(dir.join("tsig.key"), &key_text).expect("writing tsig.key");

        for zone in zones {
            std::fs::write(
                dir.join(format!("{}.zone", zone.name)),
                zone_file(zone, zones),
            )
            .expect("writing a zone file");
        }

        let mut last_log = String::new();
        for _attempt in 0..8 {
            let Some(port) = free_port() else { continue };
            let conf = named_conf(&dir, port, zones);
            std::fs::write(dir.join("named.conf"), conf).expect("writing named.conf");
            let log = std::fs::File::create(dir.join("named.log")).expect("named.log");
            let child = Command::new("named")
                .args(["-g", "-c"])
                .arg(dir.join("named.conf"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("starting named (install bind9)");
            let mut child = child;
            if wait_ready(&mut child, port, &zones[0].name) {
                let watchdog = watchdog(child.id());
                return Bind {
                    child,
                    watchdog,
                    dir,
                    port,
                    secret,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(dir.join("named.log")).unwrap_or_default();
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("named did not start; last log:\n{last_log}");
    }

    /// Where it listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TSIG key's name.
    pub fn key_name(&self) -> &str {
        KEY_NAME
    }

    /// The TSIG key's secret, base64 as `tsig-keygen` prints it.
    pub fn key_secret(&self) -> &str {
        &self.secret
    }

    /// The TXT values of `name` as the server holds them now (asked with `dig`,
    /// independently of the code under test), sorted.
    pub fn txt(&self, name: &str) -> Vec<String> {
        let out = dig(self.port, &["+short", "TXT", name]);
        let mut values: Vec<String> = out
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                // `"part1" "part2"`: join the character strings.
                l.split('"')
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 1)
                    .map(|(_, s)| s)
                    .collect::<String>()
            })
            .collect();
        values.sort();
        values
    }

    /// What `named` logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
    }
}

/// Kills `named` (pid `named`) once this test process has gone.
fn watchdog(named: u32) -> Option<Child> {
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 1; done; kill {named} 2>/dev/null",
        std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

fn wait_ready(child: &mut Child, port: u16, zone: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if dig(port, &["+short", "SOA", zone]).contains("hostmaster") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn dig(port: u16, args: &[&str]) -> String {
    Command::new("dig")
        .args(["+time=1", "+tries=1", "+norecurse", "-p"])
        .arg(port.to_string())
        .arg("@127.0.0.1")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn named_conf(dir: &Path, port: u16, zones: &[ZoneSpec]) -> String {
    let d = dir.display();
    let mut s = format!(
        "options {{\n\
         \tdirectory \"{d}\";\n\
         \tpid-file \"{d}/named.pid\";\n\
         \tsession-keyfile \"{d}/session.key\";\n\
         \tmanaged-keys-directory \"{d}\";\n\
         \tlisten-on port {port} {{ 127.0.0.1; }};\n\
         \tlisten-on-v6 {{ none; }};\n\
         \trecursion no;\n\
         \tdnssec-validation no;\n\
         \tnotify no;\n\
         \tallow-transfer {{ none; }};\n\
         }};\n\
         controls {{ }};\n\
         include \"{d}/tsig.key\";\n"
    );
    for zone in zones {
        let _ = writeln!(
            s,
            "zone \"{z}\" {{ type primary; file \"{d}/{z}.zone\"; allow-update {{ key \"{KEY_NAME}\"; }}; }};",
            z = zone.name
        );
    }
    s
}

impl Drop for Bind {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
