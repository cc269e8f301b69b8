//! A tiny authoritative DNS server for the emulators: UDP and TCP on one
//! 127.0.0.1 port, answering from zones held in memory ([`ZoneData`]) that an
//! emulator's API writes.
//!
//! Each zone has, besides what the emulator stores: an SOA and `NS ns1.<zone>` at the
//! apex, `ns1.<zone> A 127.0.0.1`, and a wildcard `*.<zone> A 127.0.0.1` (so any name
//! of the zone resolves, as Pebble's HTTP-01 checks and the BIND test zones expect).
//! Answers are authoritative; names outside every zone are REFUSED; a CNAME is
//! followed within the zones held. Messages are parsed and encoded with hickory-proto;
//! the serving loop is written here (hickory-server would bring a catalog, zone
//! files and journaling that none of this needs).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

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

#[derive(Default)]
struct Zones {
    /// Zone apex (absolute, lowercase) → its records.
    zones: BTreeMap<String, Vec<StoredRecord>>,
}

/// Zones held in memory, shared by an emulator's API (writer) and its DNS server
/// (reader). Cheap to clone.
#[derive(Clone, Default)]
pub struct ZoneData {
    inner: Arc<RwLock<Zones>>,
    serial: Arc<AtomicU32>,
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
        let mut z = self.write();
        z.zones.entry(absolute(zone)).or_default();
        self.bump();
    }

    /// Removes a zone and its records.
    pub fn remove_zone(&self, zone: &str) {
        self.write().zones.remove(&absolute(zone));
        self.bump();
    }

    /// Replaces the records of `zone` (adding the zone when missing).
    pub fn set_records(&self, zone: &str, records: Vec<StoredRecord>) {
        self.write().zones.insert(absolute(zone), records);
        self.bump();
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

    fn bump(&self) {
        self.serial.fetch_add(1, Ordering::Relaxed);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Zones> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Zones> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
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
        out.push(Record::from_rdata(owner.clone(), TTL, RData::NS(NS(mname))));
    }
    if name == ns_host {
        out.push(Record::from_rdata(
            owner.clone(),
            TTL,
            RData::A(A(Ipv4Addr::LOCALHOST)),
        ));
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
        || format!("ns1.{zone}").ends_with(&suffix)
        || zones
            .zones
            .get(zone)
            .is_some_and(|rs| rs.iter().any(|r| r.name.ends_with(&suffix)))
}

/// The answer to one query message.
pub fn answer(data: &ZoneData, request: &Message) -> Message {
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
    let zones = data.read();
    let serial = data.serial.load(Ordering::Relaxed);
    let qtype = query.query_type;
    let mut name = absolute(&query.name.to_ascii());
    let Some(zone) = ZoneData::zone_of(&zones, &name) else {
        response.metadata.response_code = ResponseCode::Refused;
        return response;
    };
    response.metadata.authoritative = true;
    let mut current_zone = zone;
    for _ in 0..MAX_CHAIN {
        let records = records_at(&zones, &current_zone, &name, serial);
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
            match ZoneData::zone_of(&zones, &target) {
                Some(z) => {
                    name = target;
                    current_zone = z;
                    continue;
                }
                None => return response,
            }
        }
        if !records.is_empty() || has_descendants(&zones, &current_zone, &name) {
            let matching: Vec<Record> = records
                .into_iter()
                .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
                .collect();
            if matching.is_empty() {
                push_soa(&mut response, &zones, &current_zone, serial);
            } else {
                if qtype == RecordType::NS && name == current_zone {
                    response.additionals.extend(records_at(
                        &zones,
                        &current_zone,
                        &format!("ns1.{current_zone}"),
                        serial,
                    ));
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
            push_soa(&mut response, &zones, &current_zone, serial);
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

fn handle(data: &ZoneData, bytes: &[u8], udp: bool) -> Option<Vec<u8>> {
    let request = Message::from_vec(bytes).ok()?;
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let limit = if udp {
        request
            .edns
            .as_ref()
            .map(|e| usize::from(e.max_payload().max(512)))
            .unwrap_or(512)
    } else {
        u16::MAX as usize
    };
    encode(answer(data, &request), limit)
}

/// A running DNS server; stops when dropped.
pub struct DnsServer {
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Serves `data` over UDP and TCP on one free 127.0.0.1 port.
    pub async fn start(data: ZoneData) -> Result<DnsServer, DnsServerError> {
        let mut last = None;
        for _ in 0..20 {
            let udp = UdpSocket::bind("127.0.0.1:0")
                .await
                .map_err(DnsServerError::Bind)?;
            let addr = udp.local_addr().map_err(DnsServerError::Bind)?;
            match TcpListener::bind(addr).await {
                Ok(tcp) => {
                    let udp = Arc::new(udp);
                    let udp_task = tokio::spawn(serve_udp(udp, data.clone()));
                    let tcp_task = tokio::spawn(serve_tcp(tcp, data));
                    return Ok(DnsServer {
                        addr,
                        tasks: vec![udp_task, tcp_task],
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(DnsServerError::Bind(last.unwrap_or_else(|| {
            std::io::Error::other("no free port for both UDP and TCP")
        })))
    }

    /// Where it listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, data: ZoneData) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = handle(&data, &buf[..n], true) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, data: ZoneData) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let data = data.clone();
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
                let Some(reply) = handle(&data, &buf, false) else {
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
