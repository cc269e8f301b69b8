//! A minimal DER writer and reader (single-byte tags, definite lengths).
//! Enough of DER to write PKCS#10 requests and PKCS#1/SEC1/PKCS#8 keys, and to
//! read them back. Pure.

/// One element read from DER.
#[derive(Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    /// The whole element, tag and length included.
    pub raw: &'a [u8],
}

/// Reads one element; returns it and what follows.
pub(crate) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers are not used here
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    let raw = &input[..header + len];
    Some((
        Tlv {
            tag,
            content: &rest[..len],
            raw,
        },
        &rest[len..],
    ))
}

/// All elements of a constructed element's content.
pub(crate) fn children(mut content: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tlv, rest) = read(content)?;
        out.push(tlv);
        content = rest;
    }
    Some(out)
}

/// The bytes of a BIT STRING with no unused bits.
pub(crate) fn bit_string_bytes<'a>(tlv: &Tlv<'a>) -> Option<&'a [u8]> {
    if tlv.tag != 0x03 {
        return None;
    }
    match tlv.content.split_first() {
        Some((0, bytes)) => Some(bytes),
        _ => None,
    }
}

/// The algorithm OID content and subjectPublicKey bits of an SPKI.
pub(crate) fn spki_public_bits(spki: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (outer, _) = read(spki)?;
    let fields = children(outer.content)?;
    let alg = children(fields.first()?.content)?;
    let oid = alg.first().filter(|o| o.tag == 0x06)?;
    let bits = bit_string_bytes(fields.get(1)?)?;
    Some((oid.content.to_vec(), bits.to_vec()))
}

pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A SET OF, elements sorted as DER requires.
pub(crate) fn set(parts: &[&[u8]]) -> Vec<u8> {
    let mut sorted = parts.to_vec();
    sorted.sort();
    tlv(0x31, &sorted.concat())
}

pub(crate) fn oid_content(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        [a] => (a * 40, &[][..]),
        [] => return out,
    };
    for arc in std::iter::once(first).chain(rest.iter().copied()) {
        let mut stack = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            stack.push(((v & 0x7f) as u8) | 0x80);
            v >>= 7;
        }
        stack.reverse();
        out.extend_from_slice(&stack);
    }
    out
}

pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
    tlv(0x06, &oid_content(arcs))
}

pub(crate) fn oid_to_string(content: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for &b in content {
        v = v.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (v / 40).min(2);
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        }
    }
    let strings: Vec<String> = arcs.iter().map(u64::to_string).collect();
    Some(strings.join("."))
}

pub(crate) fn null() -> Vec<u8> {
    vec![0x05, 0x00]
}

pub(crate) fn boolean(v: bool) -> Vec<u8> {
    vec![0x01, 0x01, if v { 0xff } else { 0x00 }]
}

/// An INTEGER from unsigned big-endian bytes.
pub(crate) fn uint_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes;
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    let mut content = Vec::new();
    if b.first().is_none_or(|x| x & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(b);
    tlv(0x02, &content)
}

pub(crate) fn uint(v: u64) -> Vec<u8> {
    uint_bytes(&v.to_be_bytes())
}

pub(crate) fn small_int(v: u8) -> Vec<u8> {
    uint(u64::from(v))
}

pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = vec![0u8];
    content.extend_from_slice(bytes);
    tlv(0x03, &content)
}

pub(crate) fn octet_string(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}
