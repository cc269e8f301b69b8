//! DNS lookups for DNS-01: the zone of a name (SOA walk), CNAME chains, a zone's
//! authoritative nameservers, and the TXT values one server holds.
//!
//! Every query is a plain DNS message sent to a chosen server (UDP, retried over TCP
//! when truncated; or POSTed to a DNS-over-HTTPS endpoint), with no cache:
//! propagation checks must see what the servers hold now. Lookups go to the
//! configured recursive nameservers, or to the system's (`/etc/resolv.conf`) when
//! none are configured.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use hickory_net::NetError;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsExchange, DnsHandle as _, DnsMultiplexer};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, DnsResponse, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType, TSigner};
use tracing::debug;

use super::nameserver::{DohClient, Nameserver};
use super::{Dns01Config, fqdn};

/// The longest CNAME chain followed.
const MAX_CNAME_LINKS: usize = 16;

/// Why a lookup failed. Every message names the domain it was about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolverError {
    /// No recursive nameservers are configured and the system has none.
    #[error(
        "no recursive nameservers to ask: {reason}; set the DNS-01 recursive nameservers explicitly"
    )]
    NoRecursiveNameservers { reason: String },
    /// The name is not a valid DNS name.
    #[error("\"{name}\" is not a valid DNS name: {reason}")]
    InvalidName { name: String, reason: String },
    /// The DNS-over-HTTPS client could not be set up.
    #[error("cannot query DNS-over-HTTPS nameservers: {reason}")]
    DohClient { reason: String },
    /// No server answered.
    #[error("no answer to the {rtype} query for \"{name}\" from {servers}: {reason}")]
    NoAnswer {
        name: String,
        rtype: String,
        servers: String,
        reason: String,
    },
    /// A server answered with an error code.
    #[error("{server} answered {rcode} to the {rtype} query for \"{name}\"")]
    Rcode {
        name: String,
        rtype: String,
        server: Nameserver,
        rcode: String,
    },
    /// A server answered the SOA walk with an error code.
    #[error(
        "could not find the zone of \"{name}\": {server} answered {rcode} to the SOA query for \"{asked}\" \
         (expected NOERROR or NXDOMAIN from a recursive nameserver)"
    )]
    ZoneQuery {
        name: String,
        asked: String,
        server: Nameserver,
        rcode: String,
    },
    /// The SOA walk reached the top without finding a zone.
    #[error(
        "could not find the zone of \"{name}\": no SOA record for it or any parent domain (asked {servers})"
    )]
    NoZone { name: String, servers: String },
    /// A CNAME chain comes back to a name already in it.
    #[error("the CNAME chain of \"{name}\" loops: \"{target}\" appears twice")]
    CnameLoop { name: String, target: String },
    /// A CNAME chain is suspiciously long.
    #[error("the CNAME chain of \"{name}\" is longer than {MAX_CNAME_LINKS} links")]
    CnameTooLong { name: String },
    /// The zone's nameservers could not be found or resolved.
    #[error("could not determine the authoritative nameservers of zone \"{zone}\": {reason}")]
    NoAuthoritativeNameservers { zone: String, reason: String },
}

/// How a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// Sends one message to one server and returns its answer, whatever its response
/// code. With a signer the message is TSIG-signed and the answer's signature
/// verified.
pub(crate) async fn exchange(
    server: SocketAddr,
    transport: Transport,
    message: Message,
    timeout: Duration,
    signer: Option<TSigner>,
) -> Result<DnsResponse, NetError> {
    let provider = TokioRuntimeProvider::new();
    let exchange: DnsExchange<TokioRuntimeProvider> = match transport {
        Transport::Udp => UdpClientStream::builder(server, provider)
            .with_timeout(Some(timeout))
            .with_signer(signer)
            .exchange(),
        Transport::Tcp => {
            let (connect, handle) = TcpClientStream::new(server, None, Some(timeout), provider);
            let stream = tokio::time::timeout(timeout, connect)
                .await
                .map_err(|_| NetError::Timeout)??;
            let mut mux = DnsMultiplexer::new(stream, handle).with_timeout(timeout);
            if let Some(signer) = signer {
                mux = mux.with_signer(signer);
            }
            let (exchange, background) = DnsExchange::from_stream(mux);
            tokio::spawn(background);
            exchange
        }
    };
    let mut options = DnsRequestOptions::default();
    options.recursion_desired = message.metadata.recursion_desired;
    let mut answers = exchange.send(DnsRequest::new(message, options));
    let answer = tokio::time::timeout(timeout, answers.next())
        .await
        .map_err(|_| NetError::Timeout)?;
    answer.unwrap_or(Err(NetError::Timeout))
}

/// The mnemonic of a response code, as `dig` prints it.
pub(crate) fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::YXDomain => "YXDOMAIN".into(),
        ResponseCode::YXRRSet => "YXRRSET".into(),
        ResponseCode::NXRRSet => "NXRRSET".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        ResponseCode::BADSIG => "BADSIG".into(),
        ResponseCode::BADKEY => "BADKEY".into(),
        ResponseCode::BADTIME => "BADTIME".into(),
        other => format!("{} ({})", other, u16::from(other)),
    }
}

/// Parses an absolute DNS name.
pub(crate) fn parse_name(name: &str) -> Result<Name, ResolverError> {
    let absolute = fqdn(name);
    Name::from_ascii(&absolute).map_err(|e| ResolverError::InvalidName {
        name: name.to_string(),
        reason: e.to_string(),
    })
}

/// A name as an absolute lowercase string with its trailing dot.
pub(crate) fn name_string(name: &Name) -> String {
    fqdn(&name.to_ascii())
}

fn list(servers: &[Nameserver]) -> String {
    servers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// DNS lookups for DNS-01. Cheap to clone: clones share the query counter.
#[derive(Clone, Debug)]
pub struct Resolver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    recursive: Vec<Nameserver>,
    /// The client of DNS-over-HTTPS servers: built when a recursive nameserver is one.
    doh: Option<DohClient>,
    authoritative_port: u16,
    query_timeout: Duration,
    queries: AtomicU64,
    /// Servers that failed to answer (timeout, unreachable, SERVFAIL…), with when:
    /// asked after the others for [`DEMOTION`], so one dead resolver does not cost
    /// every lookup a timeout.
    failing: std::sync::Mutex<HashMap<Nameserver, tokio::time::Instant>>,
}

/// How long a server that failed to answer is asked only after the others.
const DEMOTION: Duration = Duration::from_secs(30);

impl Resolver {
    /// A resolver asking `config.recursive_nameservers`, or the system's nameservers
    /// when that list is empty.
    pub fn new(config: &Dns01Config) -> Result<Self, ResolverError> {
        let recursive = if config.recursive_nameservers.is_empty() {
            system_nameservers()?
                .into_iter()
                .map(Nameserver::Addr)
                .collect()
        } else {
            config.recursive_nameservers.clone()
        };
        let doh = if recursive.iter().any(Nameserver::is_https) {
            Some(
                DohClient::new(config.doh_ca_bundle.as_deref())
                    .map_err(|reason| ResolverError::DohClient { reason })?,
            )
        } else {
            None
        };
        Ok(Self {
            inner: Arc::new(Inner {
                recursive,
                doh,
                authoritative_port: config.authoritative_port,
                query_timeout: config.query_timeout,
                queries: AtomicU64::new(0),
                failing: Default::default(),
            }),
        })
    }

    /// The recursive nameservers lookups go to.
    pub fn recursive_nameservers(&self) -> &[Nameserver] {
        &self.inner.recursive
    }

    /// How many DNS messages this resolver (and its clones) has sent.
    pub fn queries_sent(&self) -> u64 {
        self.inner.queries.load(Ordering::Relaxed)
    }

    /// Asks `servers` in turn until one answers (over UDP, then TCP when the answer
    /// is truncated; over HTTPS for DNS-over-HTTPS servers) and returns the server and
    /// its answer, whatever its response code.
    pub async fn query(
        &self,
        servers: &[Nameserver],
        name: &Name,
        rtype: RecordType,
        recursion_desired: bool,
    ) -> Result<(Nameserver, Message), ResolverError> {
        let mut last_error = String::from("no nameservers to ask");
        let mut failed_answer = None;
        // With one server there is no other to prefer: nothing to remember.
        let choosing = servers.len() > 1;
        for server in self.healthy_first(servers) {
            let result = self.query_one(server, name, rtype, recursion_desired).await;
            let answered = matches!(&result, Ok(a) if !server_failure(a.metadata.response_code));
            if choosing {
                self.note_health(server, answered);
            }
            match result {
                Ok(answer) if answered => return Ok((server.clone(), answer)),
                // A server that cannot answer (SERVFAIL, REFUSED…): the next one may;
                // its answer is returned only when none does better.
                Ok(answer) => {
                    debug!(%server, name = %name, %rtype, rcode = %answer.metadata.response_code, "DNS server failed; asking the next");
                    failed_answer.get_or_insert((server.clone(), answer));
                }
                Err(e) => {
                    debug!(%server, name = %name, %rtype, error = %e, "DNS query failed");
                    last_error = format!("{server}: {e}");
                }
            }
        }
        if let Some(answer) = failed_answer {
            return Ok(answer);
        }
        Err(ResolverError::NoAnswer {
            name: name_string(name),
            rtype: rtype.to_string(),
            servers: list(servers),
            reason: last_error,
        })
    }

    /// `servers` in their order, those that failed recently after the others.
    fn healthy_first<'s>(&self, servers: &'s [Nameserver]) -> Vec<&'s Nameserver> {
        if servers.len() < 2 {
            return servers.iter().collect();
        }
        let now = tokio::time::Instant::now();
        let failing = self.inner.failing.lock().unwrap_or_else(|p| p.into_inner());
        let recently = |s: &Nameserver| {
            failing
                .get(s)
                .is_some_and(|at| now.saturating_duration_since(*at) < DEMOTION)
        };
        let (bad, mut good): (Vec<&Nameserver>, Vec<&Nameserver>) =
            servers.iter().partition(|s| recently(s));
        good.extend(bad);
        good
    }

    fn note_health(&self, server: &Nameserver, answered: bool) {
        let mut failing = self.inner.failing.lock().unwrap_or_else(|p| p.into_inner());
        if answered {
            failing.remove(server);
        } else {
            failing.insert(server.clone(), tokio::time::Instant::now());
        }
    }

    async fn query_one(
        &self,
        server: &Nameserver,
        name: &Name,
        rtype: RecordType,
        recursion_desired: bool,
    ) -> Result<Message, String> {
        let build = || {
            let mut message = Message::query();
            message.add_query(Query::query(name.clone(), rtype));
            message.metadata.recursion_desired = recursion_desired;
            message
                .edns
                .get_or_insert_with(hickory_proto::op::Edns::new)
                .set_max_payload(hickory_proto::op::DEFAULT_MAX_PAYLOAD_LEN)
                .set_version(0);
            message
        };
        let timeout = self.inner.query_timeout;
        let server = match server {
            Nameserver::Addr(addr) => *addr,
            Nameserver::Host { host, port } => tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(|e| format!("resolving {host}: {e}"))?
                .next()
                .ok_or_else(|| format!("resolving {host}: no address"))?,
            Nameserver::Https(url) => {
                let Some(doh) = &self.inner.doh else {
                    return Err("no DNS-over-HTTPS client".into());
                };
                self.inner.queries.fetch_add(1, Ordering::Relaxed);
                return doh
                    .exchange(url, &build(), timeout)
                    .await
                    .map_err(|e| e.to_string());
            }
        };
        let net = |e: NetError| e.to_string();
        self.inner.queries.fetch_add(1, Ordering::Relaxed);
        let answer = exchange(server, Transport::Udp, build(), timeout, None)
            .await
            .map_err(net)?;
        if !answer.metadata.truncation {
            return Ok(answer.into_message());
        }
        self.inner.queries.fetch_add(1, Ordering::Relaxed);
        let answer = exchange(server, Transport::Tcp, build(), timeout, None)
            .await
            .map_err(net)?;
        Ok(answer.into_message())
    }

    /// The zone `fqdn` belongs to: the closest enclosing name with an SOA record,
    /// found by asking for the SOA of the name and then of each parent in turn (as
    /// cert-manager's `FindZoneByFqdn` does). NXDOMAIN and answers without an SOA
    /// move up one label; names holding a CNAME are skipped (no zone apex has one).
    /// When a negative answer carries the zone's SOA in its authority section, the
    /// walk jumps straight to that name and confirms it with one more query.
    pub async fn find_zone(&self, fqdn: &str) -> Result<String, ResolverError> {
        let name = parse_name(fqdn)?;
        let servers = &self.inner.recursive;
        let mut candidate = name.clone();
        while !candidate.is_root() {
            let (server, answer) = self
                .query(servers, &candidate, RecordType::SOA, true)
                .await?;
            let mut next = candidate.base_name();
            match answer.metadata.response_code {
                ResponseCode::NXDomain => {}
                ResponseCode::NoError => {
                    let has_cname = answer
                        .answers
                        .iter()
                        .any(|r| r.record_type() == RecordType::CNAME);
                    if !has_cname
                        && let Some(soa) = answer
                            .answers
                            .iter()
                            .find(|r| r.record_type() == RecordType::SOA)
                    {
                        return Ok(name_string(&soa.name));
                    }
                }
                code => {
                    return Err(ResolverError::ZoneQuery {
                        name: name_string(&name),
                        asked: name_string(&candidate),
                        server,
                        rcode: rcode_name(code),
                    });
                }
            }
            // A negative answer names the zone in its authority section: go there
            // directly when it encloses the parent. Not after a CNAME: the SOA would
            // be the target's zone.
            if answer.answers.is_empty()
                && let Some(soa) = answer
                    .authorities
                    .iter()
                    .find(|r| r.record_type() == RecordType::SOA)
                && soa.name.zone_of(&next)
            {
                next = soa.name.clone();
            }
            candidate = next;
        }
        Err(ResolverError::NoZone {
            name: name_string(&name),
            servers: list(servers),
        })
    }

    /// The name `fqdn` finally points to through CNAME records (itself when it has
    /// none), for `cnameStrategy: Follow`. Wildcard CNAMEs count: the server
    /// synthesises them for the asked name. A chain coming back to one of its names
    /// is an error.
    pub async fn follow_cname(&self, fqdn: &str) -> Result<String, ResolverError> {
        let start = parse_name(fqdn)?;
        let servers = &self.inner.recursive;
        let mut chain = vec![start.clone()];
        let mut current = start.clone();
        for _ in 0..MAX_CNAME_LINKS {
            let (_, answer) = self
                .query(servers, &current, RecordType::CNAME, true)
                .await?;
            if answer.metadata.response_code != ResponseCode::NoError {
                return Ok(name_string(&current));
            }
            let target = answer.answers.iter().find_map(|r| match &r.data {
                RData::CNAME(cname) if r.name == current => Some(cname.0.clone()),
                _ => None,
            });
            let Some(mut target) = target else {
                return Ok(name_string(&current));
            };
            target.set_fqdn(true);
            if chain.contains(&target) {
                return Err(ResolverError::CnameLoop {
                    name: name_string(&start),
                    target: name_string(&target),
                });
            }
            debug!(from = %current, to = %target, "following CNAME");
            chain.push(target.clone());
            current = target;
        }
        Err(ResolverError::CnameTooLong {
            name: name_string(&start),
        })
    }

    /// The addresses of the zone's authoritative nameservers (its NS records),
    /// with port `authoritative_port`. Each nameserver contributes its IPv4
    /// addresses, or its IPv6 ones when it has no IPv4 address; addresses given in
    /// the answer's additional section save lookups.
    pub async fn authoritative_nameservers(
        &self,
        zone: &str,
    ) -> Result<Vec<SocketAddr>, ResolverError> {
        let zone_name = parse_name(zone)?;
        let servers = &self.inner.recursive;
        let (server, answer) = self
            .query(servers, &zone_name, RecordType::NS, true)
            .await?;
        if answer.metadata.response_code != ResponseCode::NoError {
            return Err(ResolverError::NoAuthoritativeNameservers {
                zone: name_string(&zone_name),
                reason: format!(
                    "{server} answered {} to the NS query",
                    rcode_name(answer.metadata.response_code)
                ),
            });
        }
        let mut hosts: Vec<Name> = Vec::new();
        for r in &answer.answers {
            if let RData::NS(ns) = &r.data
                && r.name == zone_name
                && !hosts.contains(&ns.0)
            {
                hosts.push(ns.0.clone());
            }
        }
        if hosts.is_empty() {
            return Err(ResolverError::NoAuthoritativeNameservers {
                zone: name_string(&zone_name),
                reason: format!("{server} has no NS records for it"),
            });
        }
        let port = self.inner.authoritative_port;
        let mut out: Vec<SocketAddr> = Vec::new();
        let mut failures = Vec::new();
        for host in &hosts {
            let glue = addresses(&answer.additionals, host);
            let ips = if glue.is_empty() {
                match self.host_addresses(host).await {
                    Ok(ips) => ips,
                    Err(e) => {
                        failures.push(e.to_string());
                        continue;
                    }
                }
            } else {
                glue
            };
            if ips.is_empty() {
                failures.push(format!(
                    "nameserver \"{}\" has no address",
                    name_string(host)
                ));
            }
            for ip in ips {
                let addr = SocketAddr::new(ip, port);
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
        if out.is_empty() {
            return Err(ResolverError::NoAuthoritativeNameservers {
                zone: name_string(&zone_name),
                reason: failures.join("; "),
            });
        }
        Ok(out)
    }

    /// The IPv4 addresses of `host`, or its IPv6 addresses when it has none.
    async fn host_addresses(&self, host: &Name) -> Result<Vec<IpAddr>, ResolverError> {
        let servers = &self.inner.recursive;
        for rtype in [RecordType::A, RecordType::AAAA] {
            let (_, answer) = self.query(servers, host, rtype, true).await?;
            if answer.metadata.response_code == ResponseCode::NoError {
                let ips = addresses_of_type(&answer.answers, rtype);
                if !ips.is_empty() {
                    return Ok(ips);
                }
            }
        }
        Ok(Vec::new())
    }

    /// The TXT values of `fqdn` held by `server`, asked directly: without recursion
    /// from an authoritative nameserver, with recursion from one of the recursive
    /// nameservers (`--dns01-recursive-nameservers-only`; a DNS-over-HTTPS server is
    /// always a resolver). Each value is the concatenation of its character strings.
    /// A name that does not exist has no values.
    pub async fn txt_values(
        &self,
        server: impl Into<Nameserver>,
        fqdn: &str,
    ) -> Result<Vec<String>, ResolverError> {
        let server = server.into();
        let name = parse_name(fqdn)?;
        let recursion = server.is_https() || self.inner.recursive.contains(&server);
        let (_, answer) = self
            .query(
                std::slice::from_ref(&server),
                &name,
                RecordType::TXT,
                recursion,
            )
            .await?;
        match answer.metadata.response_code {
            ResponseCode::NoError => Ok(txt_strings(&answer.answers, &name)),
            ResponseCode::NXDomain => Ok(Vec::new()),
            code => Err(ResolverError::Rcode {
                name: name_string(&name),
                rtype: "TXT".into(),
                server,
                rcode: rcode_name(code),
            }),
        }
    }
}

/// Whether an answer says the server could not answer (rather than what the name
/// holds): another server is asked.
fn server_failure(code: ResponseCode) -> bool {
    matches!(
        code,
        ResponseCode::ServFail
            | ResponseCode::Refused
            | ResponseCode::NotImp
            | ResponseCode::FormErr
    )
}

/// The system's nameservers, from `/etc/resolv.conf` (or the platform's equivalent).
fn system_nameservers() -> Result<Vec<SocketAddr>, ResolverError> {
    let (config, _) = hickory_resolver::system_conf::read_system_conf().map_err(|e| {
        ResolverError::NoRecursiveNameservers {
            reason: format!("reading the system's resolver configuration: {e}"),
        }
    })?;
    let mut out = Vec::new();
    for ns in config.name_servers() {
        let port = ns.connections.first().map(|c| c.port).unwrap_or(53);
        let addr = SocketAddr::new(ns.ip, port);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    if out.is_empty() {
        return Err(ResolverError::NoRecursiveNameservers {
            reason: "the system's resolver configuration lists no nameservers".into(),
        });
    }
    Ok(out)
}

fn addresses(records: &[Record], host: &Name) -> Vec<IpAddr> {
    let owned: Vec<Record> = records
        .iter()
        .filter(|r| &r.name == host)
        .cloned()
        .collect();
    let v4 = addresses_of_type(&owned, RecordType::A);
    if v4.is_empty() {
        addresses_of_type(&owned, RecordType::AAAA)
    } else {
        v4
    }
}

fn addresses_of_type(records: &[Record], rtype: RecordType) -> Vec<IpAddr> {
    records
        .iter()
        .filter_map(|r| match (&r.data, rtype) {
            (RData::A(a), RecordType::A) => Some(IpAddr::V4(a.0)),
            (RData::AAAA(a), RecordType::AAAA) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// The TXT values owned by `name` in `records`, each joined from its strings.
pub(crate) fn txt_strings(records: &[Record], name: &Name) -> Vec<String> {
    records
        .iter()
        .filter(|r| &r.name == name)
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, TXT};

    fn name(s: &str) -> Name {
        parse_name(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn names_are_absolute_and_lowercase() {
        assert_eq!(name_string(&name("Example.COM")), "example.com.");
        assert_eq!(
            name_string(&name("_acme-challenge.example.com.")),
            "_acme-challenge.example.com."
        );
        let err = parse_name("a..b").err();
        assert!(
            matches!(err, Some(ResolverError::InvalidName { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn txt_values_join_character_strings_and_match_the_owner() {
        let owner = name("_acme-challenge.example.com.");
        let records = vec![
            Record::from_rdata(
                owner.clone(),
                60,
                RData::TXT(TXT::new(vec!["ab".into(), "cd".into()])),
            ),
            Record::from_rdata(owner.clone(), 60, RData::TXT(TXT::new(vec!["x".into()]))),
            Record::from_rdata(
                name("other.example.com."),
                60,
                RData::TXT(TXT::new(vec!["no".into()])),
            ),
            Record::from_rdata(owner.clone(), 60, RData::A(A::new(127, 0, 0, 1))),
        ];
        assert_eq!(
            txt_strings(&records, &owner),
            vec!["abcd".to_string(), "x".to_string()]
        );
    }

    #[test]
    fn glue_prefers_ipv4() {
        let host = name("ns1.example.com.");
        let records = vec![
            Record::from_rdata(host.clone(), 60, RData::A(A::new(192, 0, 2, 1))),
            Record::from_rdata(name("ns2.example.com."), 60, RData::A(A::new(192, 0, 2, 2))),
        ];
        assert_eq!(
            addresses(&records, &host),
            vec![IpAddr::from([192, 0, 2, 1])]
        );
        assert!(addresses(&records, &name("ns3.example.com.")).is_empty());
    }

    #[test]
    fn rcode_names_are_digs() {
        assert_eq!(rcode_name(ResponseCode::Refused), "REFUSED");
        assert_eq!(rcode_name(ResponseCode::NotAuth), "NOTAUTH");
        assert_eq!(rcode_name(ResponseCode::NXDomain), "NXDOMAIN");
    }

    #[test]
    fn errors_name_the_domain() {
        let e = ResolverError::NoZone {
            name: "_acme-challenge.nowhere.test.".into(),
            servers: "127.0.0.1:53".into(),
        };
        assert!(
            e.to_string().contains("\"_acme-challenge.nowhere.test.\""),
            "{e}"
        );
    }

    #[test]
    fn explicit_nameservers_are_used_as_given() {
        let config = Dns01Config {
            recursive_nameservers: vec!["127.0.0.1:5353".parse().unwrap_or_else(|e| panic!("{e}"))],
            ..Dns01Config::default()
        };
        let r = Resolver::new(&config).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.recursive_nameservers().len(), 1);
        assert_eq!(r.queries_sent(), 0);
    }
}
