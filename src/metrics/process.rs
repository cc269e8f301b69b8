//! The controller process's own figures on `/metrics`, read from `/proc` at each
//! scrape: the `process_*` families of Prometheus's client libraries (client_golang's
//! process collector: `process_resident_memory_bytes`, `process_cpu_seconds_total`,
//! …, with its names, types and help texts), and certgate's account of its heap from
//! the allocator (`certgate_allocator_*`, under jemalloc).

use std::fmt::Write as _;

/// What `/proc/self/stat` says of the process (man 5 proc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStat {
    /// User plus system time, in clock ticks.
    pub cpu_ticks: u64,
    /// When the process started, in clock ticks after boot.
    pub start_ticks: u64,
    /// Virtual memory size in bytes.
    pub virtual_bytes: u64,
    /// Resident set size in pages.
    pub resident_pages: u64,
}

/// Reads a `/proc/<pid>/stat` line. The process's name (the second field, in
/// parentheses) may hold spaces and parentheses: the fields are counted from the
/// last `)`.
pub fn parse_stat(line: &str) -> Option<ProcessStat> {
    let (_, rest) = line.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field N is at index N - 3.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(ProcessStat {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_pages: field(24)?,
    })
}

/// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
pub fn parse_boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Appends the process families to a text exposition, and the allocator's account
/// when there is one (jemalloc's bytes allocated and resident, from
/// `runtime::allocator::jemalloc_stats`). Leaves out what cannot be read (not
/// Linux, no `/proc`).
pub fn render(out: &mut String, allocator: Option<(usize, usize)>) {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s));
    // SAFETY: sysconf only reads system constants.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if let Some(stat) = stat
        && ticks > 0
        && page > 0
    {
        let ticks = ticks as f64;
        family(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            stat.cpu_ticks as f64 / ticks,
        );
        family(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            (stat.resident_pages * page as u64) as f64,
        );
        family(
            out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            stat.virtual_bytes as f64,
        );
        if let Some(boot) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| parse_boot_time(&s))
        {
            family(
                out,
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                boot as f64 + stat.start_ticks as f64 / ticks,
            );
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        family(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        family(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            limit.rlim_cur as f64,
        );
    }
    if let Some((allocated, resident)) = allocator {
        family(
            out,
            "certgate_allocator_allocated_bytes",
            "gauge",
            "Bytes of heap the controller holds allocated (jemalloc's stats.allocated).",
            allocated as f64,
        );
        family(
            out,
            "certgate_allocator_resident_bytes",
            "gauge",
            "Bytes of the allocator's resident pages, allocated or not, with its own metadata (jemalloc's stats.resident).",
            resident as f64,
        );
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_is_read_from_the_last_parenthesis() {
        // A name with a space and a parenthesis, as the kernel writes it.
        let line = "4242 (certgate (x)) S 1 4242 4242 0 -1 4194560 5000 0 0 0 \
                    150 25 0 0 20 0 9 0 123456 987654321 20480 18446744073709551615";
        let stat = parse_stat(line).expect("a stat line");
        assert_eq!(
            stat,
            ProcessStat {
                cpu_ticks: 175,
                start_ticks: 123456,
                virtual_bytes: 987654321,
                resident_pages: 20480,
            }
        );
        assert_eq!(parse_stat("4242 (certgate) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn boot_time_comes_from_btime() {
        let stat = "cpu  1 2 3 4\nintr 5\nbtime 1764990000\nprocesses 77\n";
        assert_eq!(parse_boot_time(stat), Some(1_764_990_000));
        assert_eq!(parse_boot_time("cpu 1 2\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_process_families_describe_this_process() {
        let mut out = String::new();
        render(&mut out, Some((1000, 4096)));
        let value = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("{name} missing from:\n{out}"))
        };
        // This test process holds at least a MiB resident and a few open files.
        assert!(value("process_resident_memory_bytes") > 1_048_576.0);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        let started = value("process_start_time_seconds");
        let now = jiff::Timestamp::now().as_second() as f64;
        assert!(
            started > 1.6e9 && started <= now + 1.0,
            "{started} against {now}"
        );
        assert!(out.contains("# TYPE process_cpu_seconds_total counter"));
        assert_eq!(value("certgate_allocator_allocated_bytes"), 1000.0);
        assert_eq!(value("certgate_allocator_resident_bytes"), 4096.0);
        let mut without = String::new();
        render(&mut without, None);
        assert!(!without.contains("certgate_allocator"));
    }
}
