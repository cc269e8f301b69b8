//! Fuzz-style property tests (proptest, stable Rust) of the parsers that read
//! untrusted input: Ingress/Gateway annotations, Go-compatible helpers, PEM, DER,
//! private keys and CSRs, ACME JSON documents and headers, DNS messages and the
//! TLS-ALPN-01 solvers annotation. Each property feeds arbitrary input and input
//! mutated from a real seed (`tests/fuzz-corpus/`, see its README) and asserts
//! that the parser returns (an error or a value) without panicking, and, where a
//! round-trip exists, that it holds. Inputs are bounded in size, so a parser that
//! allocates without bound on small input shows up as a slow or aborted test.
//!
//! Case counts are kept small so the whole file runs in well under a minute on two
//! cores; raise `PROPTEST_CASES` locally for a longer run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use certgate::api::acme::CertificateDnsNameSelector;
use certgate::api::annotations as ann;
use certgate::dns01::nameserver::Nameserver;
use certgate::dns01::selection::{ChallengeKind, SolverCandidate, select_solver};
use certgate::gocompat;
use certgate::intent::{self, Defaults, Source, SourceKind, TlsBlock};
use certgate::issuers::acme::ari;
use certgate::issuers::acme::protocol::http::parse_retry_after;
use certgate::issuers::acme::protocol::links::{parse_link_header, resolve};
use certgate::issuers::acme::protocol::problem::{Problem, Subproblem};
use certgate::issuers::acme::protocol::renewal::{self, RenewalInfo};
use certgate::issuers::acme::protocol::{Authorization, Challenge, Identifier, Order};
use certgate::issuers::ca::CaKeyPair;
use certgate::issuers::signer::SignOptions;
use certgate::pki::chain;
use certgate::pki::key::PrivateKey;
use certgate::tlsalpn01::{self_check, solvers};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};

// ---------------------------------------------------------------------------
// Seeds and helpers
// ---------------------------------------------------------------------------

const CA_CRT: &str = include_str!("fuzz-corpus/ca.crt");
const CA_KEY: &str = include_str!("fuzz-corpus/ec256-sec1.key");
const LEAF_CRT: &str = include_str!("fuzz-corpus/leaf.crt");
const LEAF_CSR: &str = include_str!("fuzz-corpus/leaf.csr");
const CHAIN_PEM: &str = include_str!("fuzz-corpus/chain.pem");
const KEYS: [&str; 5] = [
    include_str!("fuzz-corpus/ec256-sec1.key"),
    include_str!("fuzz-corpus/leaf.key"),
    include_str!("fuzz-corpus/ed25519.key"),
    include_str!("fuzz-corpus/rsa2048-pkcs1.key"),
    include_str!("fuzz-corpus/rsa2048-pkcs8.key"),
];
const PROBLEM_JSON: &str = include_str!("fuzz-corpus/problem.json");
const ORDER_JSON: &str = include_str!("fuzz-corpus/order.json");
const AUTHORIZATION_JSON: &str = include_str!("fuzz-corpus/authorization.json");
const RENEWAL_INFO_JSON: &str = include_str!("fuzz-corpus/renewal-info.json");
const TLS_ALPN01_SOLVERS_YAML: &str = include_str!("fuzz-corpus/tls-alpn01-solvers.yaml");
const DNS_MESSAGES: [&[u8]; 2] = [
    include_bytes!("fuzz-corpus/dns-txt-answer.bin"),
    include_bytes!("fuzz-corpus/dns-soa-nxdomain.bin"),
];

/// The largest arbitrary input, in bytes.
const MAX_INPUT: usize = 4096;

/// `cases` per property, or `PROPTEST_CASES` when set (for a longer local run).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        max_shrink_iters: 64,
        // Integration tests have no lib.rs beside them for proptest's default.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/fuzz_parsers.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// The label and DER contents of the first PEM block of `text`.
fn pem_block(text: &str) -> (String, Vec<u8>) {
    let begin = text.find("-----BEGIN ").expect("BEGIN line");
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").expect("label end");
    let label = rest[..label_end].to_string();
    let body_start = rest.find('\n').expect("body") + 1;
    let body_end = rest.find("-----END ").expect("END line");
    let b64: String = rest[body_start..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    (label, der)
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// One edit of a byte string.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    Set {
        at: usize,
        byte: u8,
    },
    Truncate {
        at: usize,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Copies a slice of the input to another place (repeats structure, as a
    /// TLV or a PEM block).
    Duplicate {
        from: usize,
        len: usize,
        at: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        4 => (at, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        3 => (at, prop_oneof![Just(0u8), Just(0x7f), Just(0x80), Just(0xff), any::<u8>()])
            .prop_map(|(at, byte)| Mutation::Set { at, byte }),
        1 => at.prop_map(|at| Mutation::Truncate { at }),
        2 => (at, 1usize..16).prop_map(|(at, len)| Mutation::Delete { at, len }),
        2 => (at, proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (at, 1usize..64, at).prop_map(|(from, len, at)| Mutation::Duplicate { from, len, at }),
    ]
}

/// A few edits; sometimes none, so the seed's happy path runs too.
fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 0..6)
}

fn apply(seed: &[u8], edits: &[Mutation]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for m in edits {
        let n = v.len();
        let pos = |at: usize| if n == 0 { 0 } else { at % n };
        match m {
            Mutation::FlipBit { at, bit } if n > 0 => {
                let i = pos(*at);
                v[i] ^= 1 << bit;
            }
            Mutation::Set { at, byte } if n > 0 => {
                let i = pos(*at);
                v[i] = *byte;
            }
            Mutation::Truncate { at } => v.truncate(pos(*at)),
            Mutation::Delete { at, len } if n > 0 => {
                let i = pos(*at);
                let end = (i + len).min(n);
                v.drain(i..end);
            }
            Mutation::Insert { at, bytes } => {
                let i = if n == 0 { 0 } else { at % (n + 1) };
                v.splice(i..i, bytes.iter().copied());
            }
            Mutation::Duplicate { from, len, at } if n > 0 => {
                let i = pos(*from);
                let end = (i + len).min(n);
                let piece = v[i..end].to_vec();
                let j = at % (n + 1);
                v.splice(j..j, piece);
            }
            _ => {}
        }
        v.truncate(MAX_INPUT * 2);
    }
    v
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..MAX_INPUT)
}

/// Mostly-ASCII text with some unicode, control characters and long runs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[ -~]{0,64}",
        2 => "\\PC{0,64}",
        1 => ".{0,32}",
        1 => ("[a-z]{1,3}", 1usize..2000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

/// A valid DNS-1123 subdomain (what the API server accepts as a name: at most
/// 253 characters; unlike a DNS name, no limit per label).
fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

// ---------------------------------------------------------------------------
// The intent builder (Ingress/Gateway annotations and TLS blocks)
// ---------------------------------------------------------------------------

const INTENT_KEYS: &[&str] = &[
    ann::ISSUER,
    ann::CLUSTER_ISSUER,
    ann::ISSUER_KIND,
    ann::ISSUER_GROUP,
    ann::COMMON_NAME,
    ann::ALT_NAMES,
    ann::IP_SANS,
    ann::URI_SANS,
    ann::EMAIL_SANS,
    ann::DURATION,
    ann::RENEW_BEFORE,
    ann::RENEW_BEFORE_PERCENTAGE,
    ann::USAGES,
    ann::REVISION_HISTORY_LIMIT,
    ann::PRIVATE_KEY_ALGORITHM,
    ann::PRIVATE_KEY_ENCODING,
    ann::PRIVATE_KEY_SIZE,
    ann::PRIVATE_KEY_ROTATION_POLICY,
    ann::SUBJECT_ORGANIZATIONS,
    ann::SUBJECT_ORGANIZATIONAL_UNITS,
    ann::SUBJECT_COUNTRIES,
    ann::SUBJECT_PROVINCES,
    ann::SUBJECT_LOCALITIES,
    ann::SUBJECT_STREET_ADDRESSES,
    ann::SUBJECT_POSTAL_CODES,
    ann::SUBJECT_SERIAL_NUMBER,
    ann::SECRET_TEMPLATE,
    ann::TLS_ACME,
    ann::INGRESS_CLASS,
    ann::ISSUE_TEMPORARY_CERTIFICATE,
    ann::HTTP01_INGRESS_CLASS,
    ann::HTTP01_INGRESS_INGRESSCLASSNAME,
    ann::HTTP01_EDIT_IN_PLACE,
    ann::HTTP01_OVERRIDE_INGRESS_NAME,
    ann::HTTP01_OVERRIDE_INGRESS_CLASS,
    ann::HTTP01_OVERRIDE_INGRESS_INGRESSCLASSNAME,
    ann::HTTP01_PARENTREF_NAME,
    ann::HTTP01_PARENTREF_KIND,
    ann::HTTP01_PARENTREF_NAMESPACE,
    ann::HTTP01_PARENTREF_FALLBACK,
    ann::ACME_PROFILE,
    intent::OWNER_ANNOTATION,
    intent::HOSTNAMES_FROM_ROUTES_ANNOTATION,
];

fn annotation_key() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(INTENT_KEYS).prop_map(str::to_string),
        1 => "[a-z0-9-]{0,50}".prop_map(|l| format!("{}{l}", intent::LISTENER_ISSUER_PREFIX)),
        1 => "[a-z0-9-]{0,42}".prop_map(|l| format!("{}{l}", intent::LISTENER_CLUSTER_ISSUER_PREFIX)),
        1 => "cert-manager\\.io/[a-z.-]{0,20}",
    ]
}

fn go_duration_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{0,20}(\\.[0-9]{0,12})?(ns|us|µs|μs|ms|s|m|h)?",
        "([0-9]{1,4}(h|m|s|ms)){1,5}",
        "[0-9.]{0,30}[a-zµ]{0,3}",
        Just("9223372036854775807ns".to_string()),
        Just("2562047h47m16.854775808s".to_string()),
        Just("-0".to_string()),
    ]
}

fn csv_like() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        "[a-z0-9.*-]{0,20}",
        "\"[a-z0-9., \"\\n-]{0,20}\"?",
        "\\PC{0,10}",
        "[0-9a-f:.]{0,40}",
    ];
    proptest::collection::vec(field, 0..8).prop_map(|f| f.join(","))
}

/// Values the builder accepts for `key`, mostly.
fn plausible_value(key: &str) -> BoxedStrategy<String> {
    match key {
        ann::DURATION | ann::RENEW_BEFORE => "[1-9][0-9]{0,3}(h|m|s|h30m)".boxed(),
        ann::RENEW_BEFORE_PERCENTAGE | ann::REVISION_HISTORY_LIMIT | ann::PRIVATE_KEY_SIZE => {
            "[0-9]{1,4}".boxed()
        }
        ann::ALT_NAMES => "[a-z]{1,8}\\.example\\.com(,[a-z]{1,8}\\.example\\.com){0,2}".boxed(),
        ann::IP_SANS => {
            "(192\\.0\\.2\\.[0-9]{1,3}|2001:db8::[0-9a-f]{1,4})(,192\\.0\\.2\\.1)?".boxed()
        }
        ann::URI_SANS => "spiffe://example\\.com/[a-z]{1,8}".boxed(),
        ann::EMAIL_SANS => "[a-z]{1,8}@example\\.com".boxed(),
        ann::USAGES => {
            "(digital signature|key encipherment|server auth|client auth)(,server auth)?".boxed()
        }
        ann::PRIVATE_KEY_ALGORITHM => proptest::sample::select(vec!["RSA", "ECDSA", "Ed25519"])
            .prop_map(str::to_string)
            .boxed(),
        ann::PRIVATE_KEY_ENCODING => proptest::sample::select(vec!["PKCS1", "PKCS8"])
            .prop_map(str::to_string)
            .boxed(),
        ann::PRIVATE_KEY_ROTATION_POLICY => proptest::sample::select(vec!["Always", "Never"])
            .prop_map(str::to_string)
            .boxed(),
        _ => "[a-z][a-z0-9 .,-]{0,20}".boxed(),
    }
}

/// An annotation: a key the builder reads, with a plausible value or an
/// arbitrary one.
fn annotation() -> impl Strategy<Value = (String, String)> {
    annotation_key().prop_flat_map(|key| {
        let value = prop_oneof![2 => plausible_value(&key), 3 => annotation_value()];
        (Just(key), value)
    })
}

fn annotation_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => go_duration_like(),
        3 => csv_like(),
        2 => text(),
        1 => proptest::sample::select(vec![
            "true", "false", "True", "1", "0", "t", "ClusterIssuer", "Issuer",
            "RSA", "ECDSA", "Ed25519", "PKCS1", "PKCS8", "Always", "Never", "4096",
            "-1", "101", "50", "9999999999999999999", "", " ", "{}",
            "{\"labels\":{\"a\":\"b\"},\"annotations\":{\"c\":\"d\"}}",
            "Gateway", "HTTPRoute", "ingress-name",
        ]).prop_map(str::to_string),
        1 => "\\{\"(labels|annotations)\":\\{\"[a-z./]{0,10}\":\"[ -~]{0,10}\"\\}\\}",
    ]
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "(\\*\\.)?[a-z0-9-]{1,12}(\\.[a-z0-9-]{1,12}){0,3}",
        1 => "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        1 => "[0-9a-f:]{2,39}",
        1 => text(),
    ]
}

fn secret_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?",
        1 => Just(String::new()),
        1 => "[A-Za-z0-9_.-]{0,20}",
        1 => text(),
        1 => "[a-z]{1,3}".prop_map(|s| s.repeat(100)),
    ]
}

fn tls_block() -> impl Strategy<Value = TlsBlock> {
    (
        proptest::collection::vec(host(), 0..4),
        secret_name(),
        // A Gateway certificateRef's namespace, which the Gateway API schema
        // restricts to a DNS label.
        proptest::option::of(prop_oneof![
            Just("default".to_string()),
            "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
        ]),
        proptest::option::of("[a-z0-9-]{0,20}"),
        any::<bool>(),
    )
        .prop_map(
            |(hosts, secret_name, secret_namespace, listener, allowed)| TlsBlock {
                hosts,
                secret_name,
                secret_namespace,
                listener,
                allowed_cross_namespace: allowed,
            },
        )
}

fn source() -> impl Strategy<Value = Source> {
    (
        prop_oneof![
            Just(SourceKind::Ingress),
            Just(SourceKind::Gateway),
            Just(SourceKind::ListenerSet)
        ],
        proptest::collection::vec(annotation(), 0..5),
        proptest::bool::weighted(0.85),
        proptest::collection::vec(tls_block(), 1..4),
    )
        .prop_map(|(kind, annotations, with_issuer, tls)| {
            let mut annotations: BTreeMap<String, String> = annotations.into_iter().collect();
            // Most sources name an issuer, so the builder gets past the issuer
            // check to the per-annotation parsing.
            if with_issuer && !annotations.contains_key(ann::CLUSTER_ISSUER) {
                annotations
                    .entry(ann::ISSUER.to_string())
                    .or_insert_with(|| "ca-issuer".to_string());
            }
            let mut tls = tls;
            if kind == SourceKind::Ingress {
                // Only Gateway certificateRefs name a namespace.
                for block in &mut tls {
                    block.secret_namespace = None;
                    block.allowed_cross_namespace = false;
                }
            }
            Source {
                kind,
                api_version: match kind {
                    SourceKind::Ingress => "networking.k8s.io/v1",
                    _ => "gateway.networking.k8s.io/v1",
                }
                .to_string(),
                name: "fuzz".to_string(),
                namespace: "default".to_string(),
                uid: "00000000-0000-0000-0000-000000000001".to_string(),
                annotations,
                labels: BTreeMap::new(),
                tls,
                http01_parent: None,
            }
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn intent_build_never_panics_and_names_are_valid(src in source(), default_issuer in any::<bool>()) {
        let defaults = Defaults {
            issuer_name: default_issuer.then(|| "default-issuer".to_string()),
            extra_certificate_annotations: vec![ann::SECRET_TEMPLATE.to_string(), "example.com/x".into()],
            ..Defaults::default()
        };
        let plan = intent::build(&src, &defaults, &[], &[]);
        prop_assert!(plan.update.is_empty() && plan.delete.is_empty());
        for cert in &plan.create {
            let name = cert.metadata.name.as_deref().unwrap_or_default();
            prop_assert!(is_dns1123_subdomain(name), "invalid Certificate name {name:?}");
            prop_assert!(!cert.spec.secret_name.is_empty());
            prop_assert!(is_dns1123_subdomain(&cert.spec.secret_name),
                "invalid secretName {:?}", cert.spec.secret_name);
            let ns = cert.metadata.namespace.as_deref().unwrap_or_default();
            prop_assert!(is_dns1123_subdomain(ns), "invalid namespace {ns:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Go helpers (src/gocompat.rs)
// ---------------------------------------------------------------------------

/// Go's `strconv.Unquote` for what `go_quote` writes.
fn go_unquote(q: &str) -> Option<String> {
    let inner = q.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return None,
            '\\' => {
                let e = chars.next()?;
                let hex = |chars: &mut std::str::Chars<'_>, n: usize| {
                    let s: String = chars.take(n).collect();
                    (s.len() == n)
                        .then(|| u32::from_str_radix(&s, 16).ok())
                        .flatten()
                        .and_then(char::from_u32)
                };
                out.push(match e {
                    '"' => '"',
                    '\\' => '\\',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'v' => '\u{b}',
                    'x' => hex(&mut chars, 2)?,
                    'u' => hex(&mut chars, 4)?,
                    'U' => hex(&mut chars, 8)?,
                    _ => return None,
                });
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// A CSV record as Go's `csv.Writer` writes it (quotes when needed).
fn go_csv_write(fields: &[String], always_quote: bool) -> String {
    fields
        .iter()
        .map(|f| {
            let needs = always_quote
                || f.contains([',', '"', '\r', '\n'])
                || f.starts_with([' ', '\t'])
                || f == "\\.";
            if needs {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn go_duration_parse_never_panics(s in prop_oneof![go_duration_like(), text()]) {
        let nanos = gocompat::parse_go_duration_nanos(&s);
        let d = gocompat::parse_go_duration(&s);
        match (&nanos, &d) {
            (Ok(n), Ok(d)) => prop_assert_eq!(u128::try_from(*n).ok(), Some(d.as_nanos())),
            (Ok(n), Err(_)) => prop_assert!(*n < 0),
            (Err(_), r) => prop_assert!(r.is_err()),
        }
    }

    #[test]
    fn go_duration_string_round_trips(n in prop_oneof![0u64..1_000_000_000, 0u64..=i64::MAX as u64, Just(i64::MAX as u64)]) {
        let d = Duration::from_nanos(n);
        let s = gocompat::go_duration_string(d);
        prop_assert_eq!(gocompat::parse_go_duration(&s).ok(), Some(d), "{}", s);
    }

    #[test]
    fn go_quote_round_trips(s in text()) {
        let q = gocompat::go_quote(&s);
        prop_assert!(!q.chars().skip(1).take(q.chars().count().saturating_sub(2)).any(|c| c.is_control()));
        prop_assert_eq!(go_unquote(&q), Some(s));
    }

    #[test]
    fn go_csv_never_panics(s in prop_oneof![csv_like(), text(), "[\",\\r\\n a]{0,40}"]) {
        if let Ok(records) = gocompat::go_csv_read_all(&s) {
            // Fields per record are fixed by the first record.
            if let Some(first) = records.first() {
                prop_assert!(records.iter().all(|r| r.len() == first.len()));
            }
        }
        if let Ok(fields) = gocompat::split_with_escape_csv(&s) {
            prop_assert!(!fields.is_empty());
        }
    }

    #[test]
    fn go_csv_round_trips(
        fields in proptest::collection::vec("[a-z0-9 ,\".*é-]{0,12}", 1..6),
        always_quote in any::<bool>(),
    ) {
        // Go's reader skips an empty line, so a lone empty field is no record.
        prop_assume!(!(fields.len() == 1 && fields[0].is_empty() && !always_quote));
        let line = go_csv_write(&fields, always_quote);
        prop_assert_eq!(gocompat::split_with_escape_csv(&line), Ok(fields), "{}", line);
    }

    #[test]
    fn go_bool_and_int_never_panic(s in prop_oneof![text(), "[-+]?[0-9]{0,25}"]) {
        if gocompat::go_parse_bool(&s) {
            prop_assert!(["1", "t", "T", "TRUE", "true", "True"].contains(&s.as_str()));
        }
        match gocompat::go_parse_int(&s, "strconv.Atoi", -1000, 1000) {
            Ok(n) => prop_assert_eq!(s.parse::<i64>().ok(), Some(n)),
            Err(e) => prop_assert!(e.starts_with("strconv.Atoi: parsing ")),
        }
    }
}

// ---------------------------------------------------------------------------
// PEM, DER, private keys, CSRs
// ---------------------------------------------------------------------------

fn ca() -> CaKeyPair {
    let data = BTreeMap::from([
        ("tls.crt".to_string(), CA_CRT.as_bytes().to_vec()),
        ("tls.key".to_string(), CA_KEY.as_bytes().to_vec()),
    ]);
    CaKeyPair::from_secret_data(&data).expect("corpus CA")
}

/// PEM text mutated either as text (headers, base64) or through its DER.
fn mutated_pem(seed: &'static str) -> impl Strategy<Value = Vec<u8>> {
    (mutations(), any::<bool>()).prop_map(move |(edits, through_der)| {
        if through_der {
            let (label, der) = pem_block(seed);
            to_pem(&label, &apply(&der, &edits)).into_bytes()
        } else {
            apply(seed.as_bytes(), &edits)
        }
    })
}

fn key_pem() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (0..KEYS.len(), mutations(), any::<bool>()).prop_map(|(i, edits, through_der)| {
            if through_der {
                let (label, der) = pem_block(KEYS[i]);
                to_pem(&label, &apply(&der, &edits)).into_bytes()
            } else {
                apply(KEYS[i].as_bytes(), &edits)
            }
        }),
        1 => bytes(),
        1 => (proptest::sample::select(vec!["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "CERTIFICATE"]),
              proptest::collection::vec(any::<u8>(), 0..256))
            .prop_map(|(label, der)| to_pem(label, &der).into_bytes()),
    ]
}

#[test]
fn corpus_keys_parse() {
    for k in KEYS {
        let key = PrivateKey::from_pem(k.as_bytes()).expect("corpus key");
        let again = PrivateKey::from_pem(
            key.to_pem(certgate::api::certificate::PrivateKeyEncoding::Pkcs8)
                .expect("encode")
                .as_bytes(),
        )
        .expect("re-parse");
        assert_eq!(key.to_der_pkcs8(), again.to_der_pkcs8());
    }
    chain::parse_single_chain(CHAIN_PEM).expect("corpus chain");
    ca().sign(
        LEAF_CSR.as_bytes(),
        &SignOptions::new(Duration::from_secs(3600)),
    )
    .expect("corpus CSR");
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn private_key_from_pem_never_panics(pem in key_pem()) {
        if let Ok(key) = PrivateKey::from_pem(&pem) {
            // What parses re-encodes and parses to the same key.
            let again = PrivateKey::from_pem(
                key.to_pem(certgate::api::certificate::PrivateKeyEncoding::Pkcs8)
                    .expect("encode")
                    .as_bytes(),
            );
            prop_assert_eq!(again.map(|k| k.to_der_pkcs8()).ok(), Some(key.to_der_pkcs8()));
        }
    }

    #[test]
    fn ca_secret_data_never_panics(crt in prop_oneof![mutated_pem(CA_CRT), mutated_pem(CHAIN_PEM), bytes()], key in key_pem()) {
        let data = BTreeMap::from([
            ("tls.crt".to_string(), crt),
            ("tls.key".to_string(), key),
        ]);
        let _ = CaKeyPair::from_secret_data(&data);
    }

    #[test]
    fn chain_parsing_never_panics(pem in prop_oneof![
        3 => mutated_pem(CHAIN_PEM),
        2 => mutated_pem(LEAF_CRT),
        1 => bytes(),
        1 => (mutations(), mutations()).prop_map(|(a, b)| {
            let (_, leaf) = pem_block(LEAF_CRT);
            let (_, ca) = pem_block(CA_CRT);
            format!("{}{}", to_pem("CERTIFICATE", &apply(&leaf, &a)), to_pem("CERTIFICATE", &apply(&ca, &b))).into_bytes()
        }),
    ]) {
        let text = String::from_utf8_lossy(&pem);
        if let Ok(ders) = chain::certificates_der(&text) {
            for der in &ders {
                // certificate_pem and certificates_der round-trip.
                let again = chain::certificates_der(&chain::certificate_pem(der));
                prop_assert_eq!(again.ok(), Some(vec![der.clone()]));
            }
        }
        let _ = chain::parse_single_chain(&text);
    }

    #[test]
    fn csr_signing_never_panics(csr in prop_oneof![
        4 => mutated_pem(LEAF_CSR),
        1 => bytes(),
        1 => proptest::collection::vec(any::<u8>(), 0..512)
            .prop_map(|der| to_pem("CERTIFICATE REQUEST", &der).into_bytes()),
    ]) {
        let _ = ca().sign(&csr, &SignOptions::new(Duration::from_secs(3600)));
    }

    #[test]
    fn tls_alpn01_certificate_problem_never_panics(
        der in prop_oneof![
            3 => mutations().prop_map(|m| apply(&pem_block(LEAF_CRT).1, &m)),
            1 => mutations().prop_map(|m| apply(&pem_block(CA_CRT).1, &m)),
            1 => bytes(),
        ],
        name in prop_oneof![Just("fuzz.example.com".to_string()), text()],
        key_authorization in text(),
    ) {
        let _ = self_check::certificate_problem(&der, &name, &key_authorization);
    }

    #[test]
    fn ari_certificate_id_never_panics(
        der in prop_oneof![
            3 => mutations().prop_map(|m| apply(&pem_block(LEAF_CRT).1, &m)),
            1 => bytes(),
        ],
        id in prop_oneof!["[A-Za-z0-9_=.+/-]{0,60}", text()],
    ) {
        if let Ok(id) = renewal::certificate_id(&der) {
            // An identifier the client computes is one it accepts back.
            prop_assert_eq!(ari::parse_certificate_id(&id), Some(id.clone()));
        }
        let _ = ari::certificate_id(&to_pem("CERTIFICATE", &der).into_bytes());
        if let Some(parsed) = ari::parse_certificate_id(&id) {
            prop_assert_eq!(parsed, id);
        }
    }
}

#[test]
fn corpus_leaf_has_certificate_id() {
    let id = ari::certificate_id(LEAF_CRT.as_bytes()).expect("leaf has an AKI");
    assert_eq!(ari::parse_certificate_id(&id), Some(id.clone()));
}

// ---------------------------------------------------------------------------
// ACME documents and headers
// ---------------------------------------------------------------------------

fn identifier() -> impl Strategy<Value = Identifier> {
    (
        prop_oneof![Just("dns".to_string()), Just("ip".to_string()), text()],
        text(),
    )
        .prop_map(|(kind, value)| Identifier { kind, value })
}

fn problem() -> impl Strategy<Value = Problem> {
    let opt = || proptest::option::of(text());
    let sub = (opt(), opt(), proptest::option::of(identifier())).prop_map(
        |(kind, detail, identifier)| Subproblem {
            kind,
            detail,
            identifier,
        },
    );
    (
        text(),
        opt(),
        opt(),
        proptest::option::of(any::<u16>()),
        opt(),
        proptest::option::of(identifier()),
        proptest::collection::vec(sub, 0..3),
    )
        .prop_map(
            |(kind, title, detail, status, instance, identifier, subproblems)| Problem {
                kind: Some(kind),
                title,
                detail,
                status,
                instance,
                identifier,
                subproblems,
            },
        )
}

fn json_like(seed: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => mutations().prop_map(move |m| apply(seed.as_bytes(), &m)),
        1 => bytes(),
        1 => text().prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn problem_from_response_never_panics(status in any::<u16>(), body in prop_oneof![
        json_like(PROBLEM_JSON),
        json_like(ORDER_JSON),
        "[ \\t\\n]{0,4}<html>[ -~]{0,300}".prop_map(String::into_bytes),
        (1usize..3000).prop_map(|n| "é".repeat(n).into_bytes()),
    ]) {
        let p = Problem::from_response(status, &body);
        prop_assert!(p.kind.is_some() || p.detail.is_some());
        let _ = (p.kind(), p.detail(), p.is("rateLimited"));
    }

    #[test]
    fn problem_round_trips(p in problem(), status in 400u16..600) {
        let body = serde_json::to_vec(&p).expect("serialize");
        prop_assert_eq!(Problem::from_response(status, &body), p);
    }

    #[test]
    fn acme_resources_never_panic(order in json_like(ORDER_JSON), authz in json_like(AUTHORIZATION_JSON)) {
        let _ = serde_json::from_slice::<Order>(&order);
        if let Ok(a) = serde_json::from_slice::<Authorization>(&authz) {
            let _ = a.challenge("dns-01");
        }
        let _ = serde_json::from_slice::<Challenge>(&authz);
    }

    #[test]
    fn renewal_info_never_panics(body in json_like(RENEWAL_INFO_JSON)) {
        if let Ok(info) = RenewalInfo::parse(&body, None) {
            prop_assert!(info.suggested_window.start < info.suggested_window.end);
        }
    }

    #[test]
    fn link_header_never_panics(value in prop_oneof![
        text(),
        "(<[ -~]{0,20}>?(;[ ]*[a-z]{0,5}(=\"?[ -~]{0,10}\"?)?){0,3},?){0,4}",
    ], base in prop_oneof![Just("https://acme.example.com/dir/x".to_string()), text()]) {
        for link in parse_link_header(&value) {
            let _ = resolve(&base, &link.target);
        }
        let _ = resolve(&base, &value);
    }

    #[test]
    fn link_header_round_trips(links in proptest::collection::vec(
        ("[a-zA-Z0-9:/._?=&%-]{0,40}", proptest::collection::vec("[a-zA-Z-]{1,12}", 1..3)), 0..4)
    ) {
        let header = links
            .iter()
            .map(|(t, rels)| format!("<{t}>; rel=\"{}\"", rels.join(" ")))
            .collect::<Vec<_>>()
            .join(", ");
        let parsed = parse_link_header(&header);
        prop_assert_eq!(parsed.len(), links.len(), "{}", header);
        for (l, (t, rels)) in parsed.iter().zip(&links) {
            prop_assert_eq!(&l.target, t);
            let lower: Vec<String> = rels.iter().map(|r| r.to_ascii_lowercase()).collect();
            prop_assert_eq!(&l.rels, &lower);
        }
    }

    #[test]
    fn retry_after_never_panics(value in prop_oneof![
        text(),
        "[0-9]{1,40}",
        "[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        "[A-Za-z]{6,9}, [0-9]{2}-[A-Za-z]{3}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        "[A-Za-z]{3} [A-Za-z]{3} [ 0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}",
    ]) {
        let now = jiff::Timestamp::now();
        let r = parse_retry_after(&value, now);
        if let Ok(n) = value.trim().parse::<u64>() {
            prop_assert_eq!(r, Some(Duration::from_secs(n)));
        }
    }

    #[test]
    fn retry_after_http_date_round_trips(secs in 0i64..10_000_000) {
        let now = jiff::Timestamp::from_second(1_790_000_000).expect("timestamp");
        let at = now.checked_add(jiff::SignedDuration::from_secs(secs)).expect("in range");
        let value = jiff::fmt::strtime::format("%a, %d %b %Y %H:%M:%S GMT", &at.to_zoned(jiff::tz::TimeZone::UTC))
            .expect("format");
        prop_assert_eq!(parse_retry_after(&value, now), Some(Duration::from_secs(secs.unsigned_abs())), "{}", value);
    }
}

#[test]
fn corpus_documents_parse() {
    let p = Problem::from_response(400, PROBLEM_JSON.as_bytes());
    assert_eq!(p.subproblems.len(), 2);
    serde_json::from_str::<Order>(ORDER_JSON).expect("corpus order");
    let a = serde_json::from_str::<Authorization>(AUTHORIZATION_JSON).expect("corpus authz");
    assert!(a.challenge("dns-01").is_some());
    RenewalInfo::parse(RENEWAL_INFO_JSON.as_bytes(), None).expect("corpus renewalInfo");
    for wire in DNS_MESSAGES {
        hickory_proto::op::Message::from_vec(wire).expect("corpus DNS message");
    }
    let annotations = BTreeMap::from([(
        solvers::SOLVERS_ANNOTATION.to_string(),
        TLS_ALPN01_SOLVERS_YAML.to_string(),
    )]);
    assert_eq!(
        solvers::from_issuer_annotations(&annotations)
            .expect("corpus solvers")
            .len(),
        1
    );
}

// ---------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------

/// A solver as the selection sees it.
#[derive(Debug)]
struct Candidate {
    selector: Option<CertificateDnsNameSelector>,
    kinds: Vec<ChallengeKind>,
}

impl SolverCandidate for Candidate {
    fn selector(&self) -> Option<&CertificateDnsNameSelector> {
        self.selector.as_ref()
    }

    fn solves(&self, kind: ChallengeKind, wildcard: bool) -> bool {
        self.kinds.contains(&kind) && !(wildcard && kind == ChallengeKind::Http01)
    }
}

fn dns_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "(\\*\\.)?([a-zA-Z0-9-]{0,10}\\.){0,4}[a-z]{0,5}\\.?",
        1 => text(),
        1 => Just(String::new()),
        1 => Just(".".to_string()),
    ]
}

fn challenge_kind() -> impl Strategy<Value = ChallengeKind> {
    prop_oneof![
        Just(ChallengeKind::Http01),
        Just(ChallengeKind::Dns01),
        Just(ChallengeKind::TlsAlpn01)
    ]
}

fn candidate() -> impl Strategy<Value = Candidate> {
    let labels = proptest::collection::btree_map("[a-c]{1,2}", "[a-c]{0,2}", 0..3);
    let selector = (
        proptest::option::of(labels),
        proptest::option::of(proptest::collection::vec(dns_name(), 0..3)),
        proptest::option::of(proptest::collection::vec(dns_name(), 0..3)),
    )
        .prop_map(
            |(match_labels, dns_names, dns_zones)| CertificateDnsNameSelector {
                match_labels,
                dns_names,
                dns_zones,
            },
        );
    (
        proptest::option::of(selector),
        proptest::collection::vec(challenge_kind(), 0..3),
    )
        .prop_map(|(selector, kinds)| Candidate { selector, kinds })
}

fn dns_message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (0..DNS_MESSAGES.len(), mutations()).prop_map(|(i, m)| apply(DNS_MESSAGES[i], &m)),
        1 => proptest::collection::vec(any::<u8>(), 0..600),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn select_solver_never_panics(
        solvers in proptest::collection::vec(candidate(), 0..5),
        domain in dns_name(),
        labels in proptest::collection::btree_map("[a-c]{1,2}", "[a-c]{0,2}", 0..3),
        offered in proptest::collection::vec(challenge_kind(), 0..3),
    ) {
        if let Ok((i, s)) = select_solver(&solvers, &domain, &labels, &offered) {
            prop_assert!(std::ptr::eq(s, &solvers[i]));
            prop_assert!(offered.iter().any(|k| s.kinds.contains(k)));
        }
    }

    /// The DNS-over-HTTPS client decodes answers with hickory's
    /// `Message::from_vec` (src/dns01/nameserver.rs); the propagation check then
    /// reads the TXT answers' text.
    #[test]
    fn dns_message_decoding_never_panics(wire in dns_message()) {
        if let Ok(msg) = hickory_proto::op::Message::from_vec(&wire) {
            for record in msg.answers.iter().chain(msg.authorities.iter()) {
                let _ = record.data.to_string();
                let _ = record.name.to_string();
            }
            let _ = msg.to_vec();
        }
    }

    #[test]
    fn nameserver_parsing_round_trips(s in prop_oneof![
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(:[0-9]{0,6})?",
        "\\[[0-9a-f:]{0,20}\\](:[0-9]{0,6})?",
        "[0-9a-f:]{0,20}",
        "https://[ -~]{0,30}",
        "[a-z0-9.-]{0,20}(:[0-9]{0,6})?",
        text(),
    ]) {
        if let Ok(ns) = s.parse::<Nameserver>() {
            prop_assert_eq!(ns.to_string().parse::<Nameserver>(), Ok(ns.clone()), "{}", s);
        }
        if let Ok(ns) = certgate::dns01::rfc2136::parse_nameserver(&s) {
            let again = certgate::dns01::rfc2136::parse_nameserver(&ns.to_string());
            prop_assert_eq!(again.ok(), Some(ns), "{}", s);
        }
        let _ = s.parse::<IpAddr>();
    }

    #[test]
    fn acme_dns_accounts_never_panic(json in prop_oneof![
        text(),
        "\\{(\"[*a-z.]{0,12}\":\\{(\"(username|password|fulldomain|subdomain|allowfrom)\":(\"[ -~]{0,12}\"|\\[\\]|null|1),?){0,5}\\},?){0,3}\\}",
    ]) {
        if let Ok(accounts) = certgate::dns01::acmedns::Accounts::parse(&json, "fuzz") {
            let _ = format!("{accounts:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// TLS-ALPN-01 solvers annotation
// ---------------------------------------------------------------------------

fn yamlish() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => mutations().prop_map(|m| String::from_utf8_lossy(&apply(TLS_ALPN01_SOLVERS_YAML.as_bytes(), &m)).into_owned()),
        2 => "([ -]{0,4}[a-zA-Z]{0,16}:[ ]?(\\[|\\{|\"|'|&a|\\*a|!!str|[a-z0-9]{0,8}|-)?\\n){0,8}",
        1 => text(),
        1 => (1usize..200).prop_map(|n| "- ".repeat(n)),
        1 => (1usize..200).prop_map(|n| "[".repeat(n)),
        1 => Just("- &a [*a, *a, *a]\n- &b [*a, *a, *a]\n- &c [*b, *b, *b]\n- &d [*c, *c, *c]\n- &e [*d, *d, *d]\n".to_string()),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn tls_alpn01_solvers_annotation_never_panics(text in yamlish()) {
        let annotations = BTreeMap::from([(solvers::SOLVERS_ANNOTATION.to_string(), text)]);
        if let Ok(list) = solvers::from_issuer_annotations(&annotations) {
            // What parses serializes to JSON (a YAML subset) that parses back equal.
            let json = serde_json::to_string(&list).expect("serialize");
            let again = BTreeMap::from([(solvers::SOLVERS_ANNOTATION.to_string(), json.clone())]);
            prop_assert_eq!(solvers::from_issuer_annotations(&again).ok(), Some(list), "{}", json);
        }
    }
}
