//! What the benchmarks share: the sandbox API server in a child process.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

/// The controller binary's allocator: jemalloc, or glibc's malloc with
/// `CERTGATE_ALLOCATOR=system` (one build measures both).
#[global_allocator]
static ALLOCATOR: certgate::runtime::allocator::Allocator = certgate::runtime::allocator::Allocator;

/// Runs a benchmark as the controller binary runs: its allocator (glibc's limited to
/// two arenas before any thread starts and trimmed every few seconds), a
/// multi-threaded tokio runtime, rustls on aws-lc-rs.
pub fn run(body: impl std::future::Future<Output = ()>) {
    certgate::runtime::allocator::limit_arenas();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(async {
            let _trimmer = certgate::runtime::allocator::spawn_trimmer();
            body.await
        });
}

/// The number in environment variable `name`, else `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The sandbox API server in a child process (`certgate sandbox`), so that this
/// process's CPU time and RSS are the controllers' (and the benchmark's small client).
pub struct RemoteSandbox {
    pub child: std::process::Child,
    kubeconfig: std::path::PathBuf,
}

impl RemoteSandbox {
    /// The kubeconfig file of the sandbox (for controller processes).
    pub fn kubeconfig(&self) -> &std::path::Path {
        &self.kubeconfig
    }
}

impl Drop for RemoteSandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.kubeconfig);
    }
}

pub async fn remote_sandbox() -> (RemoteSandbox, kube::Client) {
    let kubeconfig =
        std::env::temp_dir().join(format!("certgate-bench-{}.kubeconfig", std::process::id()));
    let _ = std::fs::remove_file(&kubeconfig);
    // The API server keeps its own allocator settings whatever the controllers'
    // are set to, so that a comparison varies the controllers only.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args(["sandbox", "--kubeconfig"])
        .arg(&kubeconfig)
        .env_remove("CERTGATE_ALLOCATOR")
        .env_remove("_RJEM_MALLOC_CONF")
        .env_remove("MALLOC_ARENA_MAX")
        .env_remove("MALLOC_MMAP_THRESHOLD_")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("certgate sandbox starts");
    let remote = RemoteSandbox {
        child,
        kubeconfig: kubeconfig.clone(),
    };
    for _ in 0..200 {
        if let Ok(yaml) = std::fs::read_to_string(&kubeconfig)
            && yaml.contains("current-context")
        {
            // The controller's client stack (runtime::client), or kube's default one
            // with BENCH_KUBE_DEFAULT_CLIENT set (to compare the two).
            let client = if std::env::var_os("BENCH_KUBE_DEFAULT_CLIENT").is_some() {
                certgate_sandbox::client_from_kubeconfig(&yaml)
                    .await
                    .unwrap()
            } else {
                certgate::runtime::client::from_kubeconfig_yaml(&yaml)
                    .await
                    .unwrap()
            };
            return (remote, client);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the sandbox did not start");
}

/// A port of the loopback free at the moment (for a child process to listen on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// CPU seconds (user + system) of a process (`self` or a pid).
pub fn cpu_seconds_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak RSS of this process in MiB.
pub fn peak_rss_mib() -> f64 {
    peak_rss_mib_of("self")
}

/// Peak RSS (VmHWM) of a process (`self` or a pid) in MiB.
pub fn peak_rss_mib_of(pid: &str) -> f64 {
    status_mib_of(pid, "VmHWM:")
}

/// Current RSS (VmRSS) of a process (`self` or a pid) in MiB.
pub fn rss_mib_of(pid: &str) -> f64 {
    status_mib_of(pid, "VmRSS:")
}

/// Current RSS of this process in MiB.
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

/// Resident anonymous memory (heap, stacks: what the process allocated) of a
/// process (`self` or a pid) in MiB.
pub fn rss_anon_mib_of(pid: &str) -> f64 {
    status_mib_of(pid, "RssAnon:")
}

/// Resident file-backed memory (the binary's code and read-only data) of a process
/// (`self` or a pid) in MiB.
pub fn rss_file_mib_of(pid: &str) -> f64 {
    status_mib_of(pid, "RssFile:")
}

/// A `kB` line of `/proc/self/status` in MiB.
fn status_mib(field: &str) -> f64 {
    status_mib_of("self", field)
}

fn status_mib_of(pid: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// The allocator's own account of the heap, in MiB: (bytes in use by the program,
/// bytes it holds beyond them). glibc: the free bytes of its heap (resident or
/// not; free bytes that stay resident are fragmentation); jemalloc: its resident
/// pages beyond what is allocated (metadata, partly used pages). Zeros elsewhere.
pub fn malloc_mib() -> (f64, f64) {
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    if certgate::runtime::allocator::jemalloc() {
        let (allocated, resident) =
            certgate::runtime::allocator::jemalloc_stats().unwrap_or_default();
        return (mib(allocated), mib(resident.saturating_sub(allocated)));
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads malloc's counters.
        let info = unsafe { libc::mallinfo2() };
        (mib(info.uordblks + info.hblkhd), mib(info.fordblks))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        (0.0, 0.0)
    }
}

/// Where a benchmark's objects live: the sandbox in a child process, or — with
/// `CERTGATE_TEST_KUBECONFIG` set, as for the tests — a fresh namespace of that
/// real cluster, with certgate's CRDs applied (removed again by `finish`).
pub enum ApiServer {
    Sandbox(RemoteSandbox),
    Cluster(Box<certgate_sandbox::TestEnv>),
}

impl ApiServer {
    /// The sandbox, or the cluster of `CERTGATE_TEST_KUBECONFIG`; with its client
    /// and the namespace to work in.
    pub async fn start() -> (ApiServer, kube::Client, String) {
        match std::env::var(certgate_sandbox::harness::KUBECONFIG_ENV) {
            Ok(path) if !path.is_empty() => {
                let env = certgate_sandbox::TestEnv::start().await.unwrap();
                let crds: Vec<serde_json::Value> = certgate::api::crd::all()
                    .unwrap()
                    .into_iter()
                    .map(|c| c.json)
                    .collect();
                env.apply_crds(&crds).await.unwrap();
                // The controller's client stack, as the binary builds it.
                let yaml = std::fs::read_to_string(&path).unwrap();
                let client = certgate::runtime::client::from_kubeconfig_yaml(&yaml)
                    .await
                    .unwrap();
                let ns = env.namespace.clone();
                (ApiServer::Cluster(Box::new(env)), client, ns)
            }
            _ => {
                let (sandbox, client) = remote_sandbox().await;
                (ApiServer::Sandbox(sandbox), client, "default".into())
            }
        }
    }

    /// The kubeconfig file of this API server, for controller processes.
    pub fn kubeconfig(&self) -> std::path::PathBuf {
        match self {
            ApiServer::Sandbox(s) => s.kubeconfig().to_path_buf(),
            ApiServer::Cluster(_) => std::env::var(certgate_sandbox::harness::KUBECONFIG_ENV)
                .unwrap_or_default()
                .into(),
        }
    }

    /// Which API server this is, for the report.
    pub fn describe(&self) -> &'static str {
        match self {
            ApiServer::Sandbox(_) => "the sandbox API server",
            ApiServer::Cluster(_) => "the real API server of CERTGATE_TEST_KUBECONFIG",
        }
    }

    /// Removes what the benchmark made on a real cluster.
    pub async fn finish(self) {
        if let ApiServer::Cluster(env) = self {
            env.cleanup().await;
        }
    }
}
