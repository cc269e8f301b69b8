//! Pebble (Let's Encrypt's test CA, Debian package `pebble`) on 127.0.0.1 for tests.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Pebble; killed on drop.
pub struct Pebble {
    child: Child,
    _dir: TempDir,
    pub directory_url: String,
    pub management_url: String,
    /// PEM of the CA that signed Pebble's HTTPS certificate (for `caBundle`).
    pub tls_ca_pem: String,
}

/// Options for one Pebble.
#[derive(Default, Clone)]
pub struct PebbleOptions {
    /// Where Pebble resolves names (the BIND server).
    pub dns_server: String,
    /// The port Pebble sends HTTP-01 validation requests to.
    pub http_port: u16,
    /// The port Pebble makes TLS-ALPN-01 validation handshakes on (any free
    /// port when 0).
    pub tls_port: u16,
    /// External account binding keys (kid → base64url HMAC key); required when set.
    pub eab_keys: Vec<(String, String)>,
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("{prefix}-{}", uuid_like()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// The Pebble to run: v2.10.1 (ARI, profiles) from `../shared/pebble` when it is
/// there, unpacked once into the target directory; else `pebble` on PATH (Debian's
/// 2.4.0, which has neither).
pub fn pebble_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let packed = root.join("../shared/pebble/bin/pebble.xz");
            if !packed.exists() {
                return PathBuf::from("pebble");
            }
            let dir = root.join("target/pebble-v2.10.1");
            let binary = dir.join("pebble");
            if !binary.exists() {
                std::fs::create_dir_all(&dir).unwrap();
                let tmp = dir.join(format!("pebble.{}", std::process::id()));
                let out = std::fs::File::create(&tmp).unwrap();
                let ok = Command::new("xz")
                    .arg("-dc")
                    .arg(&packed)
                    .stdout(out)
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    let _ = std::fs::remove_file(&tmp);
                    return PathBuf::from("pebble");
                }
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
                std::fs::rename(&tmp, &binary).unwrap();
            }
            binary
        })
        .clone()
}

/// Whether the Pebble in use serves ARI and profiles (v2.10.1 from `../shared`).
pub fn pebble_is_current() -> bool {
    pebble_binary() != std::path::Path::new("pebble")
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pebble {
    pub fn start(opts: PebbleOptions) -> Pebble {
        Pebble::start_with_env(opts, &[])
    }

    /// As [`Pebble::start`], with Pebble's environment settings overridden, e.g.
    /// `PEBBLE_WFE_NONCEREJECT` (percent of nonces refused) or
    /// `PEBBLE_ALTERNATE_ROOTS` (how many alternate chains it offers).
    pub fn start_with_env(opts: PebbleOptions, env: &[(&str, &str)]) -> Pebble {
        let dir = TempDir::new("certgate-pebble");
        // Pebble's HTTPS certificate, from a CA of our own.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "certgate test Pebble TLS CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        params.subject_alt_names = vec![
            rcgen::SanType::DnsName("localhost".try_into().unwrap()),
            rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()),
        ];
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.0.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.0.join("key.pem"), key.serialize_pem()).unwrap();
        for _attempt in 0..5 {
            let (port, mport) = (free_port(), free_port());
            let config = serde_json::json!({"pebble": {
                // Pebble 2.10 offers these (2.4 ignores the key): 90-day and 6-day.
                "profiles": {
                    "default": {"description": "The profile you know and love", "validityPeriod": 7776000},
                    "shortlived": {"description": "A short-lived cert profile, without actual enforcement", "validityPeriod": 518400},
                },
                "listenAddress": format!("127.0.0.1:{port}"),
                "managementListenAddress": format!("127.0.0.1:{mport}"),
                "certificate": dir.0.join("cert.pem"),
                "privateKey": dir.0.join("key.pem"),
                "httpPort": opts.http_port,
                "tlsPort": if opts.tls_port == 0 { free_port() } else { opts.tls_port },
                "ocspResponderURL": "",
                "externalAccountBindingRequired": !opts.eab_keys.is_empty(),
                "externalAccountMACKeys": opts.eab_keys.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            }});
            let path = dir.0.join("pebble.json");
            std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
            let log = std::fs::File::create(dir.0.join("pebble.log")).unwrap();
            let mut child = Command::new(pebble_binary())
                .arg("-config")
                .arg(&path)
                .arg("-dnsserver")
                .arg(&opts.dns_server)
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0")
                .env("PEBBLE_VA_ALWAYS_VALID", "0")
                .envs(env.iter().copied())
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("pebble is not installed: apt-get install -y pebble");
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut up = false;
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    up = true;
                    break;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if up {
                return Pebble {
                    child,
                    _dir: dir,
                    directory_url: format!("https://127.0.0.1:{port}/dir"),
                    management_url: format!("https://127.0.0.1:{mport}"),
                    tls_ca_pem: ca.pem(),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(dir.0.join("pebble.log")).unwrap_or_default();
        panic!("pebble did not start:\n{log}");
    }

    /// `caBundle` for an issuer: base64 of the TLS CA.
    pub fn ca_bundle(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.tls_ca_pem.as_bytes())
    }

    /// Pebble's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.0.join("pebble.log")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
