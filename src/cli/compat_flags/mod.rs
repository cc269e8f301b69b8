//! cert-manager v1.21's controller flags, and what `certgate controller` does with each.
//!
//! [`CONTROLLER_FLAGS`] lists every flag cert-manager's controller defines
//! (`cmd/controller/app/options/options.go`, its logging flags and klog's deprecated
//! ones), so that a Deployment written for cert-manager starts certgate unchanged. A
//! flag certgate implements is one of `certgate controller`'s own (the same name or an
//! alias); a flag that does not apply is accepted here, its value checked as
//! cert-manager checks it, and logged once at startup with the reason it is ignored.
//! A flag in neither is refused, as cert-manager refuses it.
//!
//! Values are read as Go's `pflag` reads them: `--flag=value` or `--flag value`,
//! booleans as `strconv.ParseBool` (`--flag`, `--flag=false`, `=0`, `=F`, …; never
//! `--flag false`), durations in Go syntax (`1m30s`), integers with Go's prefixes
//! (`0x10`), lists comma-separated and repeatable.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use clap::{Arg, ArgAction, ArgMatches, Command, parser::ValueSource};

use crate::gocompat::{go_bool, go_float, go_int, go_int_i64};

mod feature_gates;
mod table;

pub use feature_gates::*;
pub use table::*;

/// A Go listen address: `host:port`, `:port` meaning every IPv4 address.
pub fn go_listen_address(s: &str) -> Result<SocketAddr, String> {
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port in address {s:?}"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port in address {s:?}"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse()
        .map_err(|_| format!("invalid listen address {s:?}: expected host:port or :port"))
}

/// A plain DNS server, `host:port` (cert-manager's `--acme-http01-solver-nameservers`):
/// a host name is resolved once, at startup.
pub fn go_host_port(s: &str) -> Result<SocketAddr, String> {
    match s.parse::<crate::dns01::Nameserver>() {
        Ok(crate::dns01::Nameserver::Addr(a)) => Ok(a),
        Ok(crate::dns01::Nameserver::Host { host, port }) => {
            std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .map_err(|e| format!("resolving {host}: {e}"))?
                .next()
                .ok_or_else(|| format!("resolving {host}: no address"))
        }
        _ => Err(format!(
            "invalid value {s:?}: must be in the format <ip address>:<port>"
        )),
    }
}

/// `cliflag.MapStringString`: `key=value` pairs, comma-separated.
pub fn map_string_string(s: &str) -> Result<String, String> {
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        if !pair.contains('=') {
            return Err("malformed pair, expect string=string".into());
        }
    }
    Ok(s.to_string())
}

/// klog's `--vmodule`: `pattern=N` pairs, comma-separated.
pub fn vmodule(s: &str) -> Result<String, String> {
    let syntax = || "syntax error: expect comma-separated list of filename=N".to_string();
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        let (pattern, level) = pair.split_once('=').ok_or_else(syntax)?;
        if pattern.is_empty() || level.parse::<i32>().is_err() {
            return Err(syntax());
        }
    }
    Ok(s.to_string())
}

// ---------------------------------------------------------------------------------
// The ignored flags on `certgate controller`.

const IGNORED_HEADING: &str = "cert-manager flags accepted and ignored";

/// The ignored flags given on a command line (`#[command(flatten)]` it into a clap
/// command to accept them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoredFlags {
    /// Each ignored flag given, with its values as given.
    pub given: Vec<(&'static Flag, Vec<String>)>,
}

impl IgnoredFlags {
    /// One INFO line per ignored flag given.
    pub fn log(&self) {
        for (flag, values) in &self.given {
            let Handling::Ignored(why) = flag.handling else {
                continue;
            };
            tracing::info!(
                value = %values.join(","),
                "flag --{} is accepted for cert-manager compatibility and ignored: {why}",
                flag.name
            );
        }
    }

    /// The lines [`Self::log`] writes.
    pub fn messages(&self) -> Vec<String> {
        self.given
            .iter()
            .filter_map(|(flag, _)| match flag.handling {
                Handling::Ignored(why) => Some(format!(
                    "flag --{} is accepted for cert-manager compatibility and ignored: {why}",
                    flag.name
                )),
                Handling::Implemented(_) => None,
            })
            .collect()
    }
}

fn ignored_flags() -> impl Iterator<Item = &'static Flag> {
    CONTROLLER_FLAGS
        .iter()
        .filter(|f| matches!(f.handling, Handling::Ignored(_)))
}

/// The clap argument accepting an ignored flag.
fn ignored_arg(flag: &'static Flag) -> Arg {
    let Handling::Ignored(why) = flag.handling else {
        unreachable!("only ignored flags are added")
    };
    let arg = Arg::new(flag.name)
        .long(flag.name)
        .help(format!("Ignored: {why}"))
        .help_heading(IGNORED_HEADING)
        .hide(flag.hidden)
        .value_name(flag.kind.syntax());
    match flag.kind {
        Kind::Bool => arg
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .action(ArgAction::Append)
            .value_parser(|s: &str| go_bool(s).map(|b| b.to_string())),
        kind => {
            let arg = arg
                .num_args(1)
                .allow_hyphen_values(true)
                .action(ArgAction::Append);
            match kind {
                Kind::Int => arg.value_parser(|s: &str| go_int_i64(s).map(|_| s.to_string())),
                Kind::Uint => arg.value_parser(|s: &str| {
                    go_int::<u64>(s)
                        .map(|_| s.to_string())
                        .map_err(|e| e.replace("ParseInt", "ParseUint"))
                }),
                Kind::Float => arg.value_parser(|s: &str| go_float(s).map(|_| s.to_string())),
                Kind::Duration => arg.value_parser(|s: &str| {
                    crate::gocompat::parse_go_duration_nanos(s)
                        .map(|_| s.to_string())
                        .map_err(|e| e.to_string())
                }),
                Kind::MapStringString => arg.value_parser(map_string_string),
                Kind::VModule => arg.value_parser(vmodule),
                _ => arg.value_parser(|s: &str| Ok::<_, String>(s.to_string())),
            }
        }
    }
}

/// Adds every ignored cert-manager flag to `cmd`.
pub fn augment(mut cmd: Command) -> Command {
    for flag in ignored_flags() {
        cmd = cmd.arg(ignored_arg(flag));
    }
    cmd
}

impl clap::FromArgMatches for IgnoredFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given = Vec::new();
        for flag in ignored_flags() {
            if matches.value_source(flag.name) != Some(ValueSource::CommandLine) {
                continue;
            }
            let values = matches
                .get_many::<String>(flag.name)
                .map(|v| v.cloned().collect())
                .unwrap_or_default();
            given.push((flag, values));
        }
        Ok(Self { given })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for IgnoredFlags {
    fn augment_args(cmd: Command) -> Command {
        augment(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        augment(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::table::NO_THROTTLE;
    use super::*;

    #[test]
    fn listen_addresses_as_go_writes_them() {
        assert_eq!(
            go_listen_address(":9402"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 9402)))
        );
        assert_eq!(
            go_listen_address("0.0.0.0:9403"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 9403)))
        );
        assert_eq!(
            go_listen_address("localhost:6060"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 6060)))
        );
        assert!(go_listen_address("9402").is_err());
    }

    #[test]
    fn feature_gates_as_cert_manager_reads_them() {
        assert_eq!(
            parse_feature_gates("ACMEUseARI=true, ListenerSets = false,,").map(|g| g.0),
            Ok(vec![
                ("ACMEUseARI".into(), true),
                ("ListenerSets".into(), false)
            ])
        );
        assert_eq!(parse_feature_gates(""), Ok(FeatureGates::default()));
        assert_eq!(
            parse_feature_gates("ACMEUseARI"),
            Err("malformed pair, expect string=bool".into())
        );
        assert_eq!(
            parse_feature_gates("ACMEUseARI=maybe"),
            Err(
                "invalid value of ACMEUseARI: maybe, err: strconv.ParseBool: parsing \"maybe\": invalid syntax"
                    .into()
            )
        );
        assert_eq!(
            parse_feature_gates("NoSuchGate=true"),
            Err("unrecognized feature gate: NoSuchGate".into())
        );
        let merged = merge_feature_gates(&[
            parse_feature_gates("ACMEUseARI=true,OtherNames=false").unwrap_or_default(),
            parse_feature_gates("ACMEUseARI=false").unwrap_or_default(),
        ]);
        assert_eq!(merged.get("ACMEUseARI"), Some(&false));
        assert_eq!(merged.get("OtherNames"), Some(&false));
    }

    #[test]
    fn the_table_names_each_flag_once() {
        let mut names: Vec<&str> = CONTROLLER_FLAGS.iter().map(|f| f.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a flag is listed twice");
        let table = markdown_table();
        assert!(table.contains("| `-v` | int | implemented"), "{table}");
        assert!(
            table.contains("| `--enable-profiling` | bool | ignored: certgate has no Go profiler"),
            "{table}"
        );
    }

    #[test]
    fn ignored_flags_are_accepted_checked_and_reported() {
        let cmd = augment(Command::new("controller").no_binary_name(true));
        let m = cmd
            .clone()
            .try_get_matches_from([
                "--enable-profiling",
                "--kube-api-qps=50",
                "--kube-api-burst",
                "100",
                "--metrics-tls-min-version=VersionTLS12",
                "--acme-http01-solver-extra-labels=team=a,tier=b",
                "--vmodule=controller*=4",
                "--logtostderr=false",
                "--max-certificate-size=0x9000",
                "--certificate-request-maximum-backoff-duration=48h",
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        let ignored =
            <IgnoredFlags as clap::FromArgMatches>::from_arg_matches(&m).unwrap_or_default();
        let names: Vec<&str> = ignored.given.iter().map(|(f, _)| f.name).collect();
        assert_eq!(
            names,
            [
                "kube-api-qps",
                "kube-api-burst",
                "acme-http01-solver-extra-labels",
                "enable-profiling",
                "metrics-tls-min-version",
                "max-certificate-size",
                "certificate-request-maximum-backoff-duration",
                "logtostderr",
                "vmodule"
            ]
        );
        assert_eq!(ignored.given[1].1, ["100"]);
        assert_eq!(
            ignored.messages()[0],
            format!(
                "flag --kube-api-qps is accepted for cert-manager compatibility and ignored: {NO_THROTTLE}"
            )
        );
        for bad in [
            "--enable-profiling=yes",
            "--enable-profiling yes",
            "--kube-api-burst=lots",
            "--internal-healthz-leader-election-timeout=15",
            "--acme-http01-solver-extra-labels=team",
            "--vmodule=controller",
            "--log-flush-frequency=soon",
            "--no-such-flag",
        ] {
            let args: Vec<&str> = bad.split(' ').collect();
            assert!(
                cmd.clone().try_get_matches_from(args).is_err(),
                "{bad} is accepted"
            );
        }
    }
}
