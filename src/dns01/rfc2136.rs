//! The RFC 2136 provider: DNS UPDATE messages, TSIG-signed, sent to one nameserver
//! (BIND, Knot, PowerDNS, Windows DNS…), from cert-manager's `rfc2136` solver fields.
//!
//! present adds one TXT record (TTL 60) to the RRset; cleanup deletes exactly that
//! record (name, type and value), leaving the other values. Servers ignore adding a
//! record that is there and deleting one that is not, so both are idempotent.
//!
//! TSIG: HMAC-SHA256, -384 and -512. cert-manager also accepts HMACMD5 (its default
//! when `tsigAlgorithm` is unset) and HMACSHA1; the DNS library here has neither, so
//! those are refused with a message saying what to change.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use futures::future::BoxFuture;
use hickory_net::NetError;
use hickory_proto::op::{ResponseCode, update_message};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordSet, TSigner};
use tracing::debug;

use super::provider::{Provider, ProviderError};
use super::resolver::{Transport, exchange, name_string, parse_name, rcode_name};
use crate::api::acme_dns01::{AcmeIssuerDns01ProviderRfc2136, Rfc2136Protocol};

/// The TTL of the TXT records written (cert-manager's).
pub const TXT_TTL: u32 = 60;
/// Allowed clock difference for TSIG signatures, in seconds (cert-manager's).
const TSIG_FUDGE: u16 = 300;
/// How long one update waits for an answer.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(10);
/// Where the solver's fields live, for messages.
const FIELD: &str = "spec.acme.solvers[].dns01.rfc2136";

/// What went wrong with an RFC 2136 solver. Messages say what to fix and never carry
/// the TSIG secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rfc2136Error {
    #[error(
        "the RFC2136 nameserver is missing: set {FIELD}.nameserver to host, host:port or [IPv6]:port"
    )]
    MissingNameserver,
    #[error(
        "the RFC2136 nameserver \"{value}\" is invalid: {reason}; use host, host:port or [IPv6]:port"
    )]
    InvalidNameserver { value: String, reason: String },
    #[error(
        "TSIG algorithm \"{value}\" is not supported: use HMACSHA256, HMACSHA384 or HMACSHA512 in {FIELD}.tsigAlgorithm"
    )]
    UnsupportedAlgorithm { value: String },
    #[error(
        "TSIG algorithm {value} is not supported by certgate (its DNS library has no HMAC-MD5 or HMAC-SHA1 TSIG): \
         create a key with `tsig-keygen -a hmac-sha256 <name>` on the nameserver and set {FIELD}.tsigAlgorithm to HMACSHA256"
    )]
    WeakAlgorithm { value: String },
    #[error(
        "{FIELD}.tsigAlgorithm is not set, so cert-manager's default HMACMD5 would apply, which certgate does not support: \
         set tsigAlgorithm to the algorithm of key \"{key_name}\" (HMACSHA256, HMACSHA384 or HMACSHA512)"
    )]
    DefaultMd5 { key_name: String },
    #[error(
        "{FIELD}.tsigKeyName is set to \"{key_name}\" but no TSIG secret was given: set {FIELD}.tsigSecretSecretRef"
    )]
    MissingSecret { key_name: String },
    #[error(
        "a TSIG secret was given but {FIELD}.tsigKeyName is empty: set it to the name of the key on the nameserver"
    )]
    MissingKeyName,
    #[error("TSIG key name \"{key_name}\" is not a valid DNS name")]
    InvalidKeyName { key_name: String },
    #[error(
        "the TSIG secret of key \"{key_name}\" is not valid base64: the Secret must hold the key's base64 `secret`, as tsig-keygen prints it"
    )]
    InvalidSecret { key_name: String },
    #[error("\"{name}\" is not a valid DNS name")]
    InvalidName { name: String },
    #[error("\"{fqdn}\" is not inside zone \"{zone}\"")]
    NotInZone { fqdn: String, zone: String },
    #[error("cannot resolve the RFC2136 nameserver \"{nameserver}\": {reason}")]
    Resolve { nameserver: String, reason: String },
    #[error(
        "no answer from the RFC2136 nameserver {nameserver} to the update of \"{fqdn}\": {reason}"
    )]
    Unreachable {
        nameserver: String,
        fqdn: String,
        reason: String,
    },
    #[error(
        "the nameserver {nameserver} refused the update of \"{fqdn}\" (REFUSED): check that {who} is allowed to update zone \"{zone}\" \
         (allow-update or update-policy) and that the zone is a primary zone on that server"
    )]
    Refused {
        nameserver: String,
        fqdn: String,
        zone: String,
        who: String,
    },
    #[error(
        "the nameserver {nameserver} did not accept TSIG key \"{key_name}\" for the update of \"{fqdn}\" ({detail}): \
         check that the key name, algorithm and secret match the key configured on the server, and that the clocks agree"
    )]
    TsigRejected {
        nameserver: String,
        key_name: String,
        fqdn: String,
        detail: String,
    },
    #[error(
        "the nameserver {nameserver} answered NOTAUTH to the update of \"{fqdn}\": it is not authoritative for zone \"{zone}\" \
         (check that the zone exists there as a primary zone and that the challenge's domain belongs to it){hint}"
    )]
    NotAuthoritative {
        nameserver: String,
        fqdn: String,
        zone: String,
        hint: String,
    },
    #[error(
        "the nameserver {nameserver} answered NOTZONE to the update of \"{fqdn}\": zone \"{zone}\" is not a zone it serves, or the name is outside it"
    )]
    NotZone {
        nameserver: String,
        fqdn: String,
        zone: String,
    },
    #[error(
        "the nameserver {nameserver} answered {rcode} to the update of \"{fqdn}\" in zone \"{zone}\""
    )]
    Failed {
        nameserver: String,
        fqdn: String,
        zone: String,
        rcode: String,
    },
}

impl Rfc2136Error {
    /// Whether retrying without any change may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Resolve { .. } => true,
            Self::Failed { rcode, .. } => rcode == "SERVFAIL",
            _ => false,
        }
    }
}

impl From<Rfc2136Error> for ProviderError {
    fn from(e: Rfc2136Error) -> Self {
        if e.is_transient() {
            Self::Unavailable(Box::new(e))
        } else {
            Self::Misconfigured(Box::new(e))
        }
    }
}

/// Where updates are sent: a host (IP address or name) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameserver {
    /// An IP address (without brackets) or a host name.
    pub host: String,
    /// The port, 53 unless given.
    pub port: u16,
}

impl Nameserver {
    /// The socket address when the host is an IP address.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.host
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, self.port))
    }

    async fn resolve(&self) -> Result<SocketAddr, Rfc2136Error> {
        if let Some(addr) = self.socket_addr() {
            return Ok(addr);
        }
        let resolve_err = |reason: String| Rfc2136Error::Resolve {
            nameserver: self.to_string(),
            reason,
        };
        let mut addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| resolve_err(e.to_string()))?;
        addrs
            .next()
            .ok_or_else(|| resolve_err("the name has no address".into()))
    }
}

impl fmt::Display for Nameserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses cert-manager's `nameserver` field: `host`, `host:port`, `[IPv6]`,
/// `[IPv6]:port` or a bare IPv6 address; the port defaults to 53, the host is an IP
/// address or a host name.
pub fn parse_nameserver(value: &str) -> Result<Nameserver, Rfc2136Error> {
    let s = value.trim();
    if s.is_empty() {
        return Err(Rfc2136Error::MissingNameserver);
    }
    let invalid = |reason: &str| Rfc2136Error::InvalidNameserver {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| invalid("missing ']' after the IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| invalid("expected ':' and a port after ']'"))?,
            ),
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(invalid("the address in brackets is not an IPv6 address"));
        }
        (host, port)
    } else if s.parse::<std::net::Ipv6Addr>().is_ok() {
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => {
                return Err(invalid(
                    "an IPv6 address with a port needs brackets, e.g. [2001:db8::1]:53",
                ));
            }
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    let port = match port {
        None | Some("") => 53,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(invalid("the port must be a number from 1 to 65535")),
            Ok(p) => p,
        },
    };
    if host.parse::<IpAddr>().is_err() {
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let name = host.strip_suffix('.').unwrap_or(host);
        if !name.split('.').all(valid_label) {
            return Err(invalid("the host is neither an IP address nor a host name"));
        }
    }
    Ok(Nameserver {
        host: host.to_string(),
        port,
    })
}

/// Parses cert-manager's `tsigAlgorithm` (case-insensitive). `key_name` is for the
/// message when the field is unset.
pub fn parse_tsig_algorithm(
    value: Option<&str>,
    key_name: &str,
) -> Result<TsigAlgorithm, Rfc2136Error> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(Rfc2136Error::DefaultMd5 {
            key_name: key_name.to_string(),
        });
    };
    match value.to_ascii_uppercase().as_str() {
        "HMACSHA256" => Ok(TsigAlgorithm::HmacSha256),
        "HMACSHA384" => Ok(TsigAlgorithm::HmacSha384),
        "HMACSHA512" => Ok(TsigAlgorithm::HmacSha512),
        "HMACMD5" | "HMACSHA1" => Err(Rfc2136Error::WeakAlgorithm {
            value: value.to_ascii_uppercase(),
        }),
        _ => Err(Rfc2136Error::UnsupportedAlgorithm {
            value: value.to_string(),
        }),
    }
}

/// Decodes a TSIG secret as stored in a Secret: the base64 text `tsig-keygen`
/// prints, surrounding whitespace ignored. The error never quotes the secret.
pub fn decode_tsig_secret(value: &[u8], key_name: &str) -> Result<Vec<u8>, Rfc2136Error> {
    let text: Vec<u8> = value
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let invalid = || Rfc2136Error::InvalidSecret {
        key_name: key_name.to_string(),
    };
    if text.is_empty() {
        return Err(invalid());
    }
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(&text).map_err(|_| invalid())
}

/// A TSIG key, its secret kept out of `Debug`.
#[derive(Clone)]
struct Tsig {
    key_name: String,
    signer: TSigner,
}

/// Writes challenge records with RFC 2136 dynamic updates.
#[derive(Clone)]
pub struct Rfc2136Provider {
    nameserver: Nameserver,
    transport: Transport,
    tsig: Option<Tsig>,
    timeout: Duration,
}

impl fmt::Debug for Rfc2136Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rfc2136Provider")
            .field("nameserver", &self.nameserver.to_string())
            .field("transport", &self.transport)
            .field(
                "tsig_key_name",
                &self.tsig.as_ref().map(|t| t.key_name.as_str()),
            )
            .field(
                "tsig_algorithm",
                &self.tsig.as_ref().map(|t| t.signer.algorithm().to_string()),
            )
            .finish_non_exhaustive()
    }
}

impl Rfc2136Provider {
    /// A provider for `config`. `tsig_secret` is the value of the Secret key named
    /// by `tsigSecretSecretRef` (base64 text, decoded here), `None` when the solver
    /// names no Secret. Updates are signed when a key name and a secret are given;
    /// giving only one of them is an error.
    pub fn new(
        config: &AcmeIssuerDns01ProviderRfc2136,
        tsig_secret: Option<&[u8]>,
    ) -> Result<Self, Rfc2136Error> {
        let nameserver = parse_nameserver(&config.nameserver)?;
        let transport = match config.protocol {
            Some(Rfc2136Protocol::Tcp) => Transport::Tcp,
            Some(Rfc2136Protocol::Udp) | None => Transport::Udp,
        };
        let key_name = config
            .tsig_key_name
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let secret = tsig_secret.filter(|s| !s.iter().all(u8::is_ascii_whitespace));
        let tsig = match (key_name, secret) {
            (None, None) => None,
            (Some(key_name), None) => {
                return Err(Rfc2136Error::MissingSecret {
                    key_name: key_name.to_string(),
                });
            }
            (None, Some(_)) => return Err(Rfc2136Error::MissingKeyName),
            (Some(key_name), Some(secret)) => {
                let algorithm = parse_tsig_algorithm(config.tsig_algorithm.as_deref(), key_name)?;
                let key = decode_tsig_secret(secret, key_name)?;
                let name =
                    Name::from_ascii(key_name).map_err(|_| Rfc2136Error::InvalidKeyName {
                        key_name: key_name.to_string(),
                    })?;
                let signer =
                    TSigner::new(key, algorithm.clone(), name, TSIG_FUDGE).map_err(|_| {
                        Rfc2136Error::UnsupportedAlgorithm {
                            value: algorithm.to_string(),
                        }
                    })?;
                Some(Tsig {
                    key_name: key_name.to_string(),
                    signer,
                })
            }
        };
        Ok(Self {
            nameserver,
            transport,
            tsig,
            timeout: UPDATE_TIMEOUT,
        })
    }

    /// Changes how long one update waits for an answer (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where updates go.
    pub fn nameserver(&self) -> &Nameserver {
        &self.nameserver
    }

    /// Adds `value` to the TXT RRset of `fqdn` in `zone`.
    pub async fn add(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), Rfc2136Error> {
        self.update(zone, fqdn, value, true).await
    }

    /// Deletes the TXT record of `fqdn` holding `value` from `zone`.
    pub async fn remove(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), Rfc2136Error> {
        self.update(zone, fqdn, value, false).await
    }

    async fn update(
        &self,
        zone: &str,
        fqdn: &str,
        value: &str,
        add: bool,
    ) -> Result<(), Rfc2136Error> {
        let zone_name = parse_name(zone).map_err(|_| Rfc2136Error::InvalidName {
            name: zone.to_string(),
        })?;
        let record_name = parse_name(fqdn).map_err(|_| Rfc2136Error::InvalidName {
            name: fqdn.to_string(),
        })?;
        let zone_s = name_string(&zone_name);
        let fqdn_s = name_string(&record_name);
        // The message builders assert this; check it first.
        if !zone_name.zone_of(&record_name) {
            return Err(Rfc2136Error::NotInZone {
                fqdn: fqdn_s,
                zone: zone_s,
            });
        }
        let mut record = Record::from_rdata(
            record_name.clone(),
            TXT_TTL,
            RData::TXT(TXT::new(vec![value.to_string()])),
        );
        record.dns_class = DNSClass::IN;
        let rrset = RecordSet::from(record);
        let message = if add {
            update_message::append(rrset, zone_name, false, true)
        } else {
            update_message::delete_by_rdata(rrset, zone_name, true)
        };
        let server = self.nameserver.resolve().await?;
        debug!(
            nameserver = %server,
            zone = %zone_s,
            fqdn = %fqdn_s,
            action = if add { "add" } else { "delete" },
            tsig_key = self.tsig.as_ref().map(|t| t.key_name.as_str()),
            "RFC2136 update"
        );
        let signer = self.tsig.as_ref().map(|t| t.signer.clone());
        let nameserver = server.to_string();
        let answer = match exchange(server, self.transport, message, self.timeout, signer).await {
            Ok(answer) => answer,
            Err(NetError::Proto(e)) if self.tsig.is_some() => {
                // The answer did not carry a valid signature of our key: the server
                // rejected the key (BADKEY/BADSIG/BADTIME answers are unsigned).
                return Err(Rfc2136Error::TsigRejected {
                    nameserver,
                    key_name: self.key_name().to_string(),
                    fqdn: fqdn_s,
                    detail: tsig_detail(&e.to_string()),
                });
            }
            Err(e) => {
                return Err(Rfc2136Error::Unreachable {
                    nameserver,
                    fqdn: fqdn_s,
                    reason: e.to_string(),
                });
            }
        };
        let tsig_error = answer.signature().and_then(|sig| sig.data.error);
        match answer.metadata.response_code {
            ResponseCode::NoError => Ok(()),
            ResponseCode::Refused => Err(Rfc2136Error::Refused {
                nameserver,
                fqdn: fqdn_s,
                zone: zone_s,
                who: match &self.tsig {
                    Some(t) => format!("the TSIG key \"{}\"", t.key_name),
                    None => "this client (the update is not signed: no TSIG key is set)".into(),
                },
            }),
            // A rejected key mostly gets an unsigned answer, which fails verification
            // above; a signed one carries the TSIG error (BADTIME: clock skew).
            ResponseCode::NotAuth if tsig_error.is_some() => Err(Rfc2136Error::TsigRejected {
                nameserver,
                key_name: self.key_name().to_string(),
                fqdn: fqdn_s,
                detail: tsig_error.map(tsig_error_detail).unwrap_or_default(),
            }),
            // Otherwise a NOTAUTH is about the zone.
            ResponseCode::NotAuth => Err(Rfc2136Error::NotAuthoritative {
                nameserver,
                fqdn: fqdn_s,
                zone: zone_s,
                hint: if self.tsig.is_some() {
                    String::new()
                } else {
                    ", or it requires a TSIG key (set tsigKeyName and tsigSecretSecretRef)".into()
                },
            }),
            ResponseCode::NotZone => Err(Rfc2136Error::NotZone {
                nameserver,
                fqdn: fqdn_s,
                zone: zone_s,
            }),
            code => Err(Rfc2136Error::Failed {
                nameserver,
                fqdn: fqdn_s,
                zone: zone_s,
                rcode: rcode_name(code),
            }),
        }
    }

    fn key_name(&self) -> &str {
        self.tsig
            .as_ref()
            .map(|t| t.key_name.as_str())
            .unwrap_or("")
    }
}

/// What a TSIG error in a signed answer means.
fn tsig_error_detail(error: TsigError) -> String {
    match error {
        TsigError::BadSig => "BADSIG: the signature does not match the key's secret".into(),
        TsigError::BadKey => "BADKEY: the server has no key of that name and algorithm".into(),
        TsigError::BadTime => {
            "BADTIME: this machine's clock and the server's differ by more than 5 minutes".into()
        }
        TsigError::BadTrunc => "BADTRUNC: truncated signature".into(),
        TsigError::Unknown(code) => format!("TSIG error {code}"),
    }
}

/// A short reason for a failed TSIG verification of the answer.
fn tsig_detail(error: &str) -> String {
    if error.contains("truncated HMAC") || error.contains("MAC") {
        "the answer is not signed with the key: the server rejected the signature".into()
    } else if error.contains("outdated") || error.contains("time") {
        "signature time out of range".into()
    } else if error.contains("wrong key") || error.contains("WrongKey") {
        "the answer is signed with another key".into()
    } else {
        "the answer's TSIG signature did not verify".into()
    }
}

impl Provider for Rfc2136Provider {
    fn present<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move { self.add(zone, fqdn, value).await.map_err(Into::into) })
    }

    fn cleanup<'a>(
        &'a self,
        zone: &'a str,
        fqdn: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move { self.remove(zone, fqdn, value).await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(host: &str, port: u16) -> Nameserver {
        Nameserver {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn nameservers() {
        let ok = [
            ("127.0.0.1", ns("127.0.0.1", 53)),
            ("127.0.0.1:5353", ns("127.0.0.1", 5353)),
            ("127.0.0.1:", ns("127.0.0.1", 53)),
            (" 10.0.0.1:53 ", ns("10.0.0.1", 53)),
            ("[2001:db8::1]:5353", ns("2001:db8::1", 5353)),
            ("[2001:db8::1]", ns("2001:db8::1", 53)),
            ("[2001:db8::1]:", ns("2001:db8::1", 53)),
            ("2001:db8::1", ns("2001:db8::1", 53)),
            ("::1", ns("::1", 53)),
            ("ns1.example.com", ns("ns1.example.com", 53)),
            ("ns1.example.com.:5300", ns("ns1.example.com.", 5300)),
            ("localhost:53", ns("localhost", 53)),
        ];
        for (input, want) in ok {
            assert_eq!(parse_nameserver(input), Ok(want), "{input}");
        }
        assert_eq!(
            parse_nameserver("127.0.0.1:5353").unwrap().socket_addr(),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            parse_nameserver("[::1]:53").unwrap().to_string(),
            "[::1]:53"
        );
        assert_eq!(
            parse_nameserver("ns1.example.com").unwrap().socket_addr(),
            None
        );

        assert_eq!(parse_nameserver(""), Err(Rfc2136Error::MissingNameserver));
        assert_eq!(
            parse_nameserver("   "),
            Err(Rfc2136Error::MissingNameserver)
        );
        for bad in [
            ":53",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "127.0.0.1:dns",
            "[2001:db8::1",
            "[2001:db8::1]53",
            "[not-v6]:53",
            "2001:db8::1:53:x",
            "bad host:53",
            "a..b",
        ] {
            let err = parse_nameserver(bad);
            assert!(
                matches!(err, Err(Rfc2136Error::InvalidNameserver { .. })),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn algorithms() {
        for (input, want) in [
            ("HMACSHA256", TsigAlgorithm::HmacSha256),
            ("hmacsha256", TsigAlgorithm::HmacSha256),
            ("HmacSha384", TsigAlgorithm::HmacSha384),
            ("HMACSHA512", TsigAlgorithm::HmacSha512),
        ] {
            assert_eq!(parse_tsig_algorithm(Some(input), "k"), Ok(want), "{input}");
        }
        for weak in ["HMACMD5", "hmacmd5", "HMACSHA1"] {
            let e = parse_tsig_algorithm(Some(weak), "k").unwrap_err();
            assert!(matches!(e, Rfc2136Error::WeakAlgorithm { .. }), "{weak}");
            assert!(e.to_string().contains("HMACSHA256"), "{e}");
        }
        let e = parse_tsig_algorithm(None, "acme-key").unwrap_err();
        assert!(
            e.to_string().contains("HMACMD5") && e.to_string().contains("\"acme-key\""),
            "{e}"
        );
        assert!(matches!(
            parse_tsig_algorithm(Some("HMACSHA224"), "k"),
            Err(Rfc2136Error::UnsupportedAlgorithm { .. })
        ));
        // What hickory signs with: exactly the three accepted.
        for a in [
            TsigAlgorithm::HmacSha256,
            TsigAlgorithm::HmacSha384,
            TsigAlgorithm::HmacSha512,
        ] {
            assert!(a.supported());
        }
        assert!(!TsigAlgorithm::HmacMd5.supported());
        assert!(!TsigAlgorithm::HmacSha1.supported());
    }

    #[test]
    fn secrets_decode_and_never_leak() {
        assert_eq!(decode_tsig_secret(b"YWJj\n", "k").unwrap(), b"abc");
        assert_eq!(decode_tsig_secret(b"YWI=", "k").unwrap(), b"ab");
        assert_eq!(decode_tsig_secret(b"YWI", "k").unwrap(), b"ab");
        let secret = b"not*base64!secret";
        let e = decode_tsig_secret(secret, "acme-key").unwrap_err();
        assert!(!e.to_string().contains("not*base64"), "{e}");
        assert!(e.to_string().contains("\"acme-key\""), "{e}");
        assert!(decode_tsig_secret(b"  ", "k").is_err());
    }

    fn config(key: Option<&str>, alg: Option<&str>) -> AcmeIssuerDns01ProviderRfc2136 {
        AcmeIssuerDns01ProviderRfc2136 {
            nameserver: "127.0.0.1:5353".into(),
            tsig_secret_secret_ref: None,
            tsig_key_name: key.map(Into::into),
            tsig_algorithm: alg.map(Into::into),
            protocol: None,
        }
    }

    #[test]
    fn construction() {
        let secret = b"c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
        let p = Rfc2136Provider::new(&config(Some("acme-key"), Some("HMACSHA256")), Some(secret))
            .unwrap();
        let debug = format!("{p:?}");
        assert!(
            debug.contains("acme-key") && !debug.contains("c2VjcmV0"),
            "{debug}"
        );
        assert!(
            Rfc2136Provider::new(&config(None, None), None).is_ok(),
            "unsigned updates"
        );
        assert_eq!(
            Rfc2136Provider::new(&config(Some("acme-key"), Some("HMACSHA256")), None).unwrap_err(),
            Rfc2136Error::MissingSecret {
                key_name: "acme-key".into()
            }
        );
        assert_eq!(
            Rfc2136Provider::new(&config(None, Some("HMACSHA256")), Some(secret)).unwrap_err(),
            Rfc2136Error::MissingKeyName
        );
        assert!(matches!(
            Rfc2136Provider::new(&config(Some("acme-key"), None), Some(secret)).unwrap_err(),
            Rfc2136Error::DefaultMd5 { .. }
        ));
        assert!(matches!(
            Rfc2136Provider::new(&config(Some("acme-key"), Some("HMACMD5")), Some(secret))
                .unwrap_err(),
            Rfc2136Error::WeakAlgorithm { .. }
        ));
        let mut tcp = config(None, None);
        tcp.protocol = Some(Rfc2136Protocol::Tcp);
        assert_eq!(
            Rfc2136Provider::new(&tcp, None).unwrap().transport,
            Transport::Tcp
        );
    }

    #[tokio::test]
    async fn names_outside_the_zone_are_refused_before_sending() {
        let p = Rfc2136Provider::new(&config(None, None), None).unwrap();
        let e = p
            .add("example.com.", "_acme-challenge.example.net.", "v")
            .await
            .unwrap_err();
        assert_eq!(
            e,
            Rfc2136Error::NotInZone {
                fqdn: "_acme-challenge.example.net.".into(),
                zone: "example.com.".into()
            }
        );
    }

    #[test]
    fn tsig_errors_say_what_to_check() {
        assert!(tsig_error_detail(TsigError::BadTime).contains("clock"));
        assert!(tsig_error_detail(TsigError::BadKey).contains("no key of that name"));
        assert!(tsig_error_detail(TsigError::BadSig).contains("secret"));
        assert!(
            tsig_detail("Please file an issue ... truncated HMACs with TSIG").contains("rejected")
        );
    }

    #[test]
    fn transient_errors() {
        assert!(
            Rfc2136Error::Unreachable {
                nameserver: "x".into(),
                fqdn: "y".into(),
                reason: "timeout".into()
            }
            .is_transient()
        );
        let refused: ProviderError = Rfc2136Error::Refused {
            nameserver: "127.0.0.1:53".into(),
            fqdn: "_acme-challenge.example.com.".into(),
            zone: "example.com.".into(),
            who: "the TSIG key \"acme-key\"".into(),
        }
        .into();
        assert!(!refused.is_transient());
        assert!(refused.to_string().contains("REFUSED"), "{refused}");
    }
}
