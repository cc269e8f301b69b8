//! moto (PyPI `moto[server]`) as a local Route53 (and STS) for tests: started on a
//! free 127.0.0.1 port, killed on drop (or, should the test process die without
//! dropping it, by a watchdog once that process is gone).
//!
//! moto answers SigV4-signed requests with any credentials. Where it differs from
//! AWS: GetChange is always INSYNC; CREATE of an existing record duplicates it;
//! DELETE of a missing record is `InvalidInput`; ListHostedZonesByName matches only
//! the exact name; it never throttles and serves no DNS. Its IAM enforcement
//! (`INITIAL_NO_AUTH_ACTION_COUNT`) refuses even correctly signed Route53 GET
//! requests (SignatureDoesNotMatch), so tests cannot meet a real credential refusal.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    watchdog: Option<Child>,
    port: u16,
    /// The access key the helpers below sign with (moto takes any).
    creds: (String, String),
}

fn free_port() -> Option<u16> {
    let l = TcpListener::bind("127.0.0.1:0").ok()?;
    l.local_addr().ok().map(|a| a.port())
}

fn command(port: u16) -> Command {
    let port = port.to_string();
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("moto_server").is_file()));
    let mut c = if on_path {
        let mut c = Command::new("moto_server");
        c.args(["-H", "127.0.0.1", "-p", &port]);
        c
    } else {
        let mut c = Command::new("python3");
        c.args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port]);
        c
    };
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read(&mut buf)
        .is_ok_and(|n| n > 0 && buf.starts_with(b"HTTP/"))
}

fn watchdog(pid: u32) -> Option<Child> {
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 1; done; kill {pid} 2>/dev/null",
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

impl Moto {
    /// Starts moto; panics (saying how to install it) when it cannot.
    pub fn start() -> Moto {
        Self::start_env(&[])
    }

    fn start_env(env: &[(&str, &str)]) -> Moto {
        for _ in 0..3 {
            let Some(port) = free_port() else { continue };
            let mut cmd = command(port);
            cmd.envs(env.iter().copied());
            let mut child = cmd.spawn().unwrap_or_else(|e| {
                panic!("cannot start moto ({e}): python3 -m pip install 'moto[server]'")
            });
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if answers(port) {
                    let watchdog = watchdog(child.id());
                    return Moto {
                        child,
                        watchdog,
                        port,
                        creds: ("AKIDTEST".into(), "secret".into()),
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto did not start: python3 -m pip install 'moto[server]'");
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A Route53 client for moto (any credentials work).
    pub async fn route53(&self) -> aws_sdk_route53::Client {
        let conf = aws_sdk_route53::Config::builder()
            .behavior_version(aws_sdk_route53::config::BehaviorVersion::latest())
            .region(aws_sdk_route53::config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_route53::config::Credentials::new(
                self.creds.0.clone(),
                self.creds.1.clone(),
                None,
                None,
                "test",
            ))
            .build();
        aws_sdk_route53::Client::from_conf(conf)
    }

    /// Creates a hosted zone named `name` (public, or private in a made-up VPC) and
    /// returns its bare id (`Z…`).
    pub async fn create_zone(&self, name: &str, private: bool) -> String {
        use aws_sdk_route53::types::{HostedZoneConfig, Vpc, VpcRegion};
        let c = self.route53().await;
        let mut req = c
            .create_hosted_zone()
            .name(name)
            .caller_reference(format!("certgate-{}", uuid::Uuid::new_v4()));
        if private {
            req = req
                .hosted_zone_config(HostedZoneConfig::builder().private_zone(true).build())
                .vpc(
                    Vpc::builder()
                        .vpc_id("vpc-12345678")
                        .vpc_region(VpcRegion::UsEast1)
                        .build(),
                );
        }
        let out = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating zone {name} in moto: {e:?}"));
        out.hosted_zone()
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
            .unwrap_or_else(|| panic!("moto returned no hosted zone for {name}"))
    }

    /// The TXT values (unquoted, sorted) at `name` in zone `id`.
    pub async fn txt(&self, id: &str, name: &str) -> Vec<String> {
        use aws_sdk_route53::types::RrType;
        let c = self.route53().await;
        let out = c
            .list_resource_record_sets()
            .hosted_zone_id(id)
            .start_record_name(name)
            .start_record_type(RrType::Txt)
            .max_items(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("listing {name}: {e:?}"));
        let want = name.trim_end_matches('.').to_ascii_lowercase();
        let mut v: Vec<String> = out
            .resource_record_sets()
            .iter()
            .filter(|s| {
                s.name().trim_end_matches('.').to_ascii_lowercase() == want
                    && *s.r#type() == RrType::Txt
            })
            .flat_map(|s| s.resource_records().iter())
            .map(|r| r.value().trim_matches('"').to_string())
            .collect();
        v.sort();
        v
    }

    /// Every TXT set of zone `id`: name (absolute, lowercase), TTL and values (unquoted).
    pub async fn all_txt(&self, id: &str) -> Vec<(String, u32, Vec<String>)> {
        use aws_sdk_route53::types::RrType;
        let c = self.route53().await;
        let mut out = Vec::new();
        let mut start: Option<(String, RrType)> = None;
        loop {
            let mut req = c.list_resource_record_sets().hosted_zone_id(id);
            if let Some((n, t)) = &start {
                req = req.start_record_name(n).start_record_type(t.clone());
            }
            let page = req
                .send()
                .await
                .unwrap_or_else(|e| panic!("listing zone {id}: {e:?}"));
            for s in page.resource_record_sets() {
                if *s.r#type() == RrType::Txt {
                    out.push((
                        format!("{}.", s.name().trim_end_matches('.').to_ascii_lowercase()),
                        s.ttl().and_then(|t| u32::try_from(t).ok()).unwrap_or(300),
                        s.resource_records()
                            .iter()
                            .map(|r| r.value().trim_matches('"').to_string())
                            .collect(),
                    ));
                }
            }
            match (
                page.is_truncated(),
                page.next_record_name(),
                page.next_record_type(),
            ) {
                (true, Some(n), Some(t)) => start = Some((n.to_string(), t.clone())),
                _ => break,
            }
        }
        out
    }

    /// Writes the TXT set `name` with `values` (quoted) directly, as another tool would.
    pub async fn upsert_txt(&self, id: &str, name: &str, values: &[&str]) {
        use aws_sdk_route53::types::{
            Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
        };
        let mut set = ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::Txt)
            .ttl(300);
        for v in values {
            set = set.resource_records(
                ResourceRecord::builder()
                    .value(format!("\"{v}\""))
                    .build()
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        let batch = ChangeBatch::builder()
            .changes(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(set.build().unwrap_or_else(|e| panic!("{e}")))
                    .build()
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        self.route53()
            .await
            .change_resource_record_sets()
            .hosted_zone_id(id)
            .change_batch(batch)
            .send()
            .await
            .unwrap_or_else(|e| panic!("upserting {name}: {e:?}"));
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
