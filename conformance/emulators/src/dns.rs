//! A tiny authoritative DNS server for the emulators: UDP and TCP on one
//! 127.0.0.1 port, answering from zones held in memory ([`ZoneData`]) that an
//! emulator's API writes.
//!
//! Each zone has, besides what the emulator stores: an SOA and `NS ns1.<zone>` at the
//! apex, `ns1.<zone> A 127.0.0.1`, and a wildcard `*.<zone> A 127.0.0.1` (so any name
//! of the zone resolves, as Pebble's HTTP-01 checks and the BIND test zones expect).
//! [`ZoneData::set_nameservers`] gives the zones more nameservers (`ns2.<zone>` …
//! on other loopback addresses), each a [`DnsServer`] of its own.
//!
//! Faults, for tests of what a DNS-01 client does when DNS misbehaves: a server can
//! lag (serve the zones as they were some seconds ago: slow propagation), answer
//! SERVFAIL to everything, or stay silent (queries time out); see [`DnsServer::set_lag`]
//! and [`DnsServer::set_mode`]. It counts the queries it receives.
//! Answers are authoritative; names outside every zone are REFUSED; a CNAME is
//! followed within the zones held. Messages are parsed and encoded with hickory-proto;
//! the serving loop is written here (hickory-server would bring a catalog, zone
//! files and journaling that none of this needs).

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// The TTL of the synthesised records.
const TTL: u32 = 60;
/// The longest CNAME chain followed inside the zones.
const MAX_CHAIN: usize = 8;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsServerError {
    #[error("binding the emulator's DNS server to 127.0.0.1: {0}")]
    Bind(std::io::Error),
}

/// The data of one record held by an emulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordValue {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// A TXT record's value: one logical string (split into 255-byte character
    /// strings on the wire).
    Txt(String),
    /// An alias, absolute.
    Cname(String),
}

/// One record held by an emulator: an absolute lowercase name with its trailing dot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub name: String,
    pub ttl: u32,
    pub value: RecordValue,
}

#[derive(Clone, Default)]
struct Zones {
    /// Zone apex (absolute, lowercase) → its records.
    zones: BTreeMap<String, Vec<StoredRecord>>,
    /// The addresses of `ns1.<zone>`, `ns2.<zone>` …; empty: `ns1` at 127.0.0.1.
    nameservers: Vec<Ipv4Addr>,
}

impl Zones {
    /// `(host name, address)` of each nameserver of `zone`.
    fn nameservers(&self, zone: &str) -> Vec<(String, Ipv4Addr)> {
        let addrs = if self.nameservers.is_empty() {
            vec![Ipv4Addr::LOCALHOST]
        } else {
            self.nameservers.clone()
        };
        addrs
            .into_iter()
            .enumerate()
            .map(|(i, ip)| (format!("ns{}.{zone}", i + 1), ip))
            .collect()
    }
}

/// One state of the zones: since when, the zones, their serial.
type State = (Instant, Arc<Zones>, u32);

/// How long past states of the zones are kept for lagging servers.
const HISTORY: Duration = Duration::from_secs(600);

/// Zones held in memory, shared by an emulator's API (writer) and its DNS servers
/// (readers). Cheap to clone.
#[derive(Clone)]
pub struct ZoneData {
    inner: Arc<RwLock<Zones>>,
    serial: Arc<AtomicU32>,
    /// Every state the zones were in, with when it began (the oldest first): what a
    /// lagging server serves.
    history: Arc<Mutex<VecDeque<State>>>,
}

impl Default for ZoneData {
    fn default() -> Self {
        ZoneData {
            inner: Default::default(),
            serial: Default::default(),
            history: Arc::new(Mutex::new(VecDeque::from([(
                Instant::now(),
                Arc::new(Zones::default()),
                0,
            )]))),
        }
    }
}

/// `name` absolute and lowercase, with exactly one trailing dot.
pub fn absolute(name: &str) -> String {
    format!(
        "{}.",
        name.trim().trim_end_matches('.').to_ascii_lowercase()
    )
}

fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || zone == "." || name.ends_with(&format!(".{zone}"))
}

impl ZoneData {
    /// Adds an empty zone (no-op when it is there).
    pub fn add_zone(&self, zone: &str) {
        self.edit(|z| {
            z.zones.entry(absolute(zone)).or_default();
        });
    }

    /// Removes a zone and its records.
    pub fn remove_zone(&self, zone: &str) {
        self.edit(|z| {
            z.zones.remove(&absolute(zone));
        });
    }

    /// Replaces the records of `zone` (adding the zone when missing).
    pub fn set_records(&self, zone: &str, records: Vec<StoredRecord>) {
        self.edit(|z| {
            z.zones.insert(absolute(zone), records);
        });
    }

    /// Every zone's nameservers: `ns1.<zone>` at the first address, `ns2.<zone>` at
    /// the second… (default: `ns1` at 127.0.0.1). Each address needs a [`DnsServer`]
    /// of its own ([`DnsServer::start_on`]) on the port the client asks.
    pub fn set_nameservers(&self, addresses: &[Ipv4Addr]) {
        self.edit(|z| z.nameservers = addresses.to_vec());
    }

    /// The zones held, absolute.
    pub fn zones(&self) -> Vec<String> {
        self.read().zones.keys().cloned().collect()
    }

    /// The TXT values of `name` as served.
    pub fn txt_values(&self, name: &str) -> Vec<String> {
        let name = absolute(name);
        self.read()
            .zones
            .values()
            .flatten()
            .filter(|r| r.name == name)
            .filter_map(|r| match &r.value {
                RecordValue::Txt(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    /// Changes the zones, bumps the serial and remembers the new state.
    fn edit(&self, change: impl FnOnce(&mut Zones)) {
        let mut zones = self.inner.write().unwrap_or_else(|p| p.into_inner());
        change(&mut zones);
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot = Arc::new(zones.clone());
        drop(zones);
        let now = Instant::now();
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history.push_back((now, snapshot, serial));
        // Keep the states of the last HISTORY, and the one in force before them.
        while history.len() > 1
            && history
                .get(1)
                .is_some_and(|(at, _, _)| now.saturating_duration_since(*at) > HISTORY)
        {
            history.pop_front();
        }
    }

    /// The zones as they were `lag` ago (the oldest state known, when `lag` reaches
    /// further back), with their serial.
    fn as_of(&self, lag: Duration) -> (Arc<Zones>, u32) {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let cutoff = Instant::now().checked_sub(lag);
        let mut chosen = history.front().map(|(_, z, s)| (z.clone(), *s));
        for (at, zones, serial) in history.iter() {
            if cutoff.is_some_and(|c| *at <= c) {
                chosen = Some((zones.clone(), *serial));
            }
        }
        chosen.unwrap_or_default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Zones> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The zone holding `name`: the longest zone apex enclosing it.
    fn zone_of(zones: &Zones, name: &str) -> Option<String> {
        zones
            .zones
            .keys()
            .filter(|z| in_zone(name, z))
            .max_by_key(|z| z.len())
            .cloned()
    }
}

fn parse(name: &str) -> Option<Name> {
    Name::from_ascii(name).ok()
}

fn txt_rdata(value: &str) -> TXT {
    let bytes = value.as_bytes();
    let chunks: Vec<&[u8]> = if bytes.is_empty() {
        vec![&[][..]]
    } else {
        bytes.chunks(255).collect()
    };
    TXT::from_bytes(chunks)
}

/// The records at `name` in `zone`: stored ones plus the synthesised SOA, NS and
/// nameserver address. Empty when the name holds nothing.
fn records_at(zones: &Zones, zone: &str, name: &str, serial: u32) -> Vec<Record> {
    let mut out = Vec::new();
    let Some(owner) = parse(name) else {
        return out;
    };
    let nameservers = zones.nameservers(zone);
    let ns_host = format!("ns1.{zone}");
    if name == zone
        && let (Some(mname), Some(rname)) = (parse(&ns_host), parse(&format!("hostmaster.{zone}")))
    {
        out.push(Record::from_rdata(
            owner.clone(),
            TTL,
            RData::SOA(SOA::new(
                mname.clone(),
                rname,
                serial,
                3600,
                600,
                86400,
                TTL,
            )),
        ));
        for (host, _) in &nameservers {
            if let Some(host) = parse(host) {
                out.push(Record::from_rdata(owner.clone(), TTL, RData::NS(NS(host))));
            }
        }
    }
    for (host, ip) in &nameservers {
        if name == host {
            out.push(Record::from_rdata(owner.clone(), TTL, RData::A(A(*ip))));
        }
    }
    if let Some(records) = zones.zones.get(zone) {
        for r in records.iter().filter(|r| r.name == name) {
            let data = match &r.value {
                RecordValue::A(ip) => RData::A(A(*ip)),
                RecordValue::Txt(v) => RData::TXT(txt_rdata(v)),
                RecordValue::Cname(target) => match parse(&absolute(target)) {
                    Some(t) => RData::CNAME(CNAME(t)),
                    None => continue,
                },
            };
            out.push(Record::from_rdata(owner.clone(), r.ttl, data));
        }
    }
    out
}

/// Whether some stored name lies below `name` (an empty non-terminal).
fn has_descendants(zones: &Zones, zone: &str, name: &str) -> bool {
    let suffix = format!(".{name}");
    name == zone
        || zones
            .nameservers(zone)
            .iter()
            .any(|(host, _)| host.ends_with(&suffix))
        || zones
            .zones
            .get(zone)
            .is_some_and(|rs| rs.iter().any(|r| r.name.ends_with(&suffix)))
}

/// The answer to one query message.
pub fn answer(data: &ZoneData, request: &Message) -> Message {
    let zones = data.read();
    let serial = data.serial.load(Ordering::Relaxed);
    answer_from(&zones, serial, request)
}

/// The answer to one query message from the zones as they were `lag` ago.
fn answer_lagging(data: &ZoneData, lag: Duration, request: &Message) -> Message {
    let (zones, serial) = data.as_of(lag);
    answer_from(&zones, serial, request)
}

fn answer_from(zones: &Zones, serial: u32, request: &Message) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = false;
    response.queries = request.queries.clone();
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(1232).set_version(0);
        response.edns = Some(edns);
    }
    if request.metadata.op_code != OpCode::Query {
        response.metadata.response_code = ResponseCode::NotImp;
        return response;
    }
    let [query] = request.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    let qtype = query.query_type;
    let mut name = absolute(&query.name.to_ascii());
    let Some(zone) = ZoneData::zone_of(zones, &name) else {
        response.metadata.response_code = ResponseCode::Refused;
        return response;
    };
    response.metadata.authoritative = true;
    let mut current_zone = zone;
    for _ in 0..MAX_CHAIN {
        let records = records_at(zones, &current_zone, &name, serial);
        let cname = records
            .iter()
            .find(|r| r.record_type() == RecordType::CNAME)
            .cloned();
        if let Some(cname) =
            cname.filter(|_| qtype != RecordType::CNAME && qtype != RecordType::ANY)
        {
            let target = match &cname.data {
                RData::CNAME(t) => absolute(&t.0.to_ascii()),
                _ => String::new(),
            };
            response.answers.push(cname);
            match ZoneData::zone_of(zones, &target) {
                Some(z) => {
                    name = target;
                    current_zone = z;
                    continue;
                }
                None => return response,
            }
        }
        if !records.is_empty() || has_descendants(zones, &current_zone, &name) {
            let matching: Vec<Record> = records
                .into_iter()
                .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
                .collect();
            if matching.is_empty() {
                push_soa(&mut response, zones, &current_zone, serial);
            } else {
                if qtype == RecordType::NS && name == current_zone {
                    for (host, _) in zones.nameservers(&current_zone) {
                        response.additionals.extend(records_at(
                            zones,
                            &current_zone,
                            &host,
                            serial,
                        ));
                    }
                }
                response.answers.extend(matching);
            }
            return response;
        }
        // The wildcard `*.<zone> A 127.0.0.1`.
        if matches!(qtype, RecordType::A | RecordType::ANY)
            && let Some(owner) = parse(&name)
        {
            response.answers.push(Record::from_rdata(
                owner,
                TTL,
                RData::A(A(Ipv4Addr::LOCALHOST)),
            ));
        } else {
            push_soa(&mut response, zones, &current_zone, serial);
        }
        return response;
    }
    response.metadata.response_code = ResponseCode::ServFail;
    response
}

fn push_soa(response: &mut Message, zones: &Zones, zone: &str, serial: u32) {
    response.authorities.extend(
        records_at(zones, zone, zone, serial)
            .into_iter()
            .filter(|r| r.record_type() == RecordType::SOA),
    );
}

/// Encodes `response`, truncated (TC, no records) when longer than `limit`.
fn encode(mut response: Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = response.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    response.metadata.truncation = true;
    response.answers.clear();
    response.authorities.clear();
    response.additionals.clear();
    response.to_vec().ok()
}

fn handle(data: &ZoneData, faults: &Faults, bytes: &[u8], udp: bool) -> Option<Vec<u8>> {
    let request = Message::from_vec(bytes).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    faults.queries.fetch_add(1, Ordering::Relaxed);
    let response = match faults.mode() {
        DnsMode::Silent => return None,
        DnsMode::ServFail => {
            let mut r = Message::response(request.metadata.id, request.metadata.op_code);
            r.queries = request.queries.clone();
            r.metadata.response_code = ResponseCode::ServFail;
            r
        }
        DnsMode::Answer => match faults.lag() {
            lag if lag.is_zero() => answer(data, &request),
            lag => answer_lagging(data, lag, &request),
        },
    };
    let limit = if udp {
        request
            .edns
            .as_ref()
            .map(|e| usize::from(e.max_payload().max(512)))
            .unwrap_or(512)
    } else {
        u16::MAX as usize
    };
    encode(response, limit)
}

/// How a [`DnsServer`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsMode {
    /// From its zones (as they were [`DnsServer::set_lag`] ago).
    Answer,
    /// SERVFAIL to every query.
    ServFail,
    /// Not at all: every query times out.
    Silent,
}

/// The faults a server is told to show, and what it counted.
#[derive(Default)]
struct Faults {
    mode: AtomicU8,
    lag_ms: AtomicU64,
    queries: AtomicU64,
}

impl Faults {
    fn mode(&self) -> DnsMode {
        match self.mode.load(Ordering::Relaxed) {
            1 => DnsMode::ServFail,
            2 => DnsMode::Silent,
            _ => DnsMode::Answer,
        }
    }

    fn lag(&self) -> Duration {
        Duration::from_millis(self.lag_ms.load(Ordering::Relaxed))
    }
}

/// A running DNS server; stops when dropped.
pub struct DnsServer {
    addr: SocketAddr,
    faults: Arc<Faults>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `data` over UDP and TCP on one free 127.0.0.1 port.
    pub async fn start(data: ZoneData) -> Result<DnsServer, DnsServerError> {
        let mut last = None;
        for _ in 0..20 {
            match Self::start_on(data.clone(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await {
                Ok(server) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            DnsServerError::Bind(std::io::Error::other("no free port for both UDP and TCP"))
        }))
    }

    /// Serves `data` over UDP and TCP on `addr` (port 0: a free port, the same for
    /// both), e.g. a second nameserver on 127.0.0.2 at the first one's port.
    pub async fn start_on(data: ZoneData, addr: SocketAddr) -> Result<DnsServer, DnsServerError> {
        let udp = UdpSocket::bind(addr).await.map_err(DnsServerError::Bind)?;
        let addr = udp.local_addr().map_err(DnsServerError::Bind)?;
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(DnsServerError::Bind)?;
        let faults = Arc::new(Faults::default());
        let udp = Arc::new(udp);
        let udp_task = tokio::spawn(serve_udp(udp, data.clone(), faults.clone()));
        let tcp_task = tokio::spawn(serve_tcp(tcp, data, faults.clone()));
        Ok(DnsServer {
            addr,
            faults,
            tasks: vec![udp_task, tcp_task],
        })
    }

    /// Where it listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves the zones as they were `lag` ago: a record written now is seen here
    /// only after `lag` (a nameserver slow to catch up). Zero: current.
    pub fn set_lag(&self, lag: Duration) {
        let ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX);
        self.faults.lag_ms.store(ms, Ordering::Relaxed);
    }

    /// Answers normally, with SERVFAIL, or not at all.
    pub fn set_mode(&self, mode: DnsMode) {
        let v = match mode {
            DnsMode::Answer => 0,
            DnsMode::ServFail => 1,
            DnsMode::Silent => 2,
        };
        self.faults.mode.store(v, Ordering::Relaxed);
    }

    /// How many queries it received (answered or not).
    pub fn queries(&self) -> u64 {
        self.faults.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, data: ZoneData, faults: Arc<Faults>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = handle(&data, &faults, &buf[..n], true) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, data: ZoneData, faults: Arc<Faults>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let (data, faults) = (data.clone(), faults.clone());
        tokio::spawn(async move {
            loop {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let Some(reply) = handle(&data, &faults, &buf, false) else {
                    return;
                };
                let Ok(reply_len) = u16::try_from(reply.len()) else {
                    return;
                };
                let mut framed = reply_len.to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn ask(data: &ZoneData, name: &str, rtype: RecordType) -> Message {
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        answer(data, &m)
    }

    fn data() -> ZoneData {
        let d = ZoneData::default();
        d.set_records(
            "example.com",
            vec![
                StoredRecord {
                    name: "_acme-challenge.example.com.".into(),
                    ttl: 60,
                    value: RecordValue::Txt("one".into()),
                },
                StoredRecord {
                    name: "_acme-challenge.example.com.".into(),
                    ttl: 60,
                    value: RecordValue::Txt("two".into()),
                },
                StoredRecord {
                    name: "_acme-challenge.alias.example.com.".into(),
                    ttl: 60,
                    value: RecordValue::Cname("_acme-challenge.example.com.".into()),
                },
            ],
        );
        d
    }

    #[test]
    fn answers() {
        let d = data();
        let soa = ask(&d, "example.com.", RecordType::SOA);
        assert!(soa.metadata.authoritative);
        assert_eq!(soa.answers.len(), 1);
        let ns = ask(&d, "example.com.", RecordType::NS);
        assert_eq!(ns.answers.len(), 1);
        assert_eq!(ns.additionals.len(), 1, "glue");
        let txt = ask(&d, "_acme-challenge.example.com.", RecordType::TXT);
        assert_eq!(txt.answers.len(), 2);
        let alias = ask(&d, "_acme-challenge.alias.example.com.", RecordType::TXT);
        assert_eq!(alias.answers.len(), 3, "CNAME then the target's two TXT");
        let cname = ask(&d, "_acme-challenge.alias.example.com.", RecordType::CNAME);
        assert_eq!(cname.answers.len(), 1);
        let wildcard = ask(&d, "www.example.com.", RecordType::A);
        assert_eq!(wildcard.answers.len(), 1);
        let nodata = ask(&d, "_acme-challenge.other.example.com.", RecordType::TXT);
        assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        assert_eq!(nodata.authorities.len(), 1, "SOA in the authority section");
        let refused = ask(&d, "example.net.", RecordType::SOA);
        assert_eq!(refused.metadata.response_code, ResponseCode::Refused);
    }

    #[test]
    fn more_nameservers_are_listed_with_their_addresses() {
        let d = data();
        d.set_nameservers(&[Ipv4Addr::LOCALHOST, Ipv4Addr::new(127, 0, 0, 2)]);
        let ns = ask(&d, "example.com.", RecordType::NS);
        assert_eq!(ns.answers.len(), 2);
        assert_eq!(ns.additionals.len(), 2, "glue for both");
        let ns2 = ask(&d, "ns2.example.com.", RecordType::A);
        assert_eq!(
            ns2.answers[0].data,
            RData::A(A(Ipv4Addr::new(127, 0, 0, 2)))
        );
    }

    #[test]
    fn a_lagging_view_serves_the_zones_as_they_were() {
        let d = data();
        std::thread::sleep(Duration::from_millis(300));
        d.set_records(
            "example.com",
            vec![StoredRecord {
                name: "_acme-challenge.example.com.".into(),
                ttl: 60,
                value: RecordValue::Txt("three".into()),
            }],
        );
        let mut m = Message::query();
        m.add_query(Query::query(
            Name::from_ascii("_acme-challenge.example.com.").unwrap(),
            RecordType::TXT,
        ));
        assert_eq!(answer(&d, &m).answers.len(), 1, "now: the new value");
        let lagging = answer_lagging(&d, Duration::from_millis(200), &m);
        assert_eq!(lagging.answers.len(), 2, "200 ms ago: the two old values");
        let long_ago = answer_lagging(&d, Duration::from_secs(60), &m);
        assert_eq!(
            long_ago.metadata.response_code,
            ResponseCode::Refused,
            "before any zone"
        );
    }

    #[tokio::test]
    async fn servfail_and_silence_are_counted() {
        let server = DnsServer::start(data()).await.unwrap();
        let mut m = Message::query();
        m.add_query(Query::query(
            Name::from_ascii("example.com.").unwrap(),
            RecordType::SOA,
        ));
        let bytes = m.to_vec().unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = vec![0u8; 4096];
        server.set_mode(DnsMode::ServFail);
        udp.send_to(&bytes, server.addr()).await.unwrap();
        let (n, _) = udp.recv_from(&mut buf).await.unwrap();
        let reply = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        server.set_mode(DnsMode::Silent);
        udp.send_to(&bytes, server.addr()).await.unwrap();
        let silent =
            tokio::time::timeout(Duration::from_millis(300), udp.recv_from(&mut buf)).await;
        assert!(silent.is_err(), "no answer while silent");
        assert_eq!(server.queries(), 2);
    }

    #[test]
    fn long_txt_values_are_split() {
        let long = "x".repeat(600);
        let t = txt_rdata(&long);
        assert_eq!(t.txt_data.len(), 3);
    }

    #[tokio::test]
    async fn serves_udp_and_tcp() {
        let d = data();
        let server = DnsServer::start(d.clone()).await.unwrap();
        let mut m = Message::query();
        m.add_query(Query::query(
            Name::from_ascii("_acme-challenge.example.com.").unwrap(),
            RecordType::TXT,
        ));
        let bytes = m.to_vec().unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        udp.send_to(&bytes, server.addr()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = udp.recv_from(&mut buf).await.unwrap();
        let reply = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(reply.answers.len(), 2);

        let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        tcp.write_all(&framed).await.unwrap();
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tcp.read_exact(&mut buf).await.unwrap();
        assert_eq!(Message::from_vec(&buf).unwrap().answers.len(), 2);
    }
}
