//! Objects kept packed in memory: their JSON deflated against a dictionary.
//!
//! Deflate codes repeats as references back into what came before. A Kubernetes
//! object of a few hundred bytes has too little before it to refer to: the keys,
//! annotation names and condition messages it shares with every object of its kind
//! are coded again in each. A [`Packer`] starts each object's stream where the
//! stream of a typical object of the same kind (its dictionary) left off, so that
//! what the two share costs a reference each. Only the object's own part is kept;
//! unpacking runs the dictionary's part again in front of it. A dictionary that fits
//! the objects badly costs size, never correctness.
//!
//! Pure Rust (`miniz_oxide`), the fastest level: `benches/footprint.rs` measures what
//! an issued CertificateRequest keeps each way.

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress_to_output, create_comp_flags_from_zip_params,
};

/// The largest object [`Packer::unpack`] inflates (far above any Kubernetes object's
/// 1.5 MB limit on its JSON).
const UNPACKED_AT_MOST: usize = 4 << 20;

/// Deflate's fastest level.
const LEVEL: i32 = 1;

/// Packs byte strings (an object's JSON) against a dictionary.
pub struct Packer {
    primed: Primed,
}

/// A compressor that has coded the dictionary, and what it wrote.
struct Primed {
    /// The dictionary's length: what unpacking drops from the front.
    len: usize,
    /// Raw deflate of the dictionary, ending on a byte boundary (a sync flush).
    prefix: Box<[u8]>,
    /// The compressor after the prefix: cloned for each object packed.
    compressor: CompressorOxide,
}

impl Primed {
    fn new(dictionary: &[u8]) -> Primed {
        // Negative window bits: raw deflate, no zlib header.
        let mut compressor = CompressorOxide::new(create_comp_flags_from_zip_params(LEVEL, -15, 0));
        let mut prefix = Vec::new();
        let (status, read) =
            compress_to_output(&mut compressor, dictionary, TDEFLFlush::Sync, |b| {
                prefix.extend_from_slice(b);
                true
            });
        if status == TDEFLStatus::Okay && read == dictionary.len() {
            Primed {
                len: dictionary.len(),
                prefix: prefix.into_boxed_slice(),
                compressor,
            }
        } else {
            // Cannot happen with an in-memory sink; packing then works without a
            // dictionary.
            Primed {
                len: 0,
                prefix: Box::default(),
                compressor: CompressorOxide::new(create_comp_flags_from_zip_params(LEVEL, -15, 0)),
            }
        }
    }
}

impl Packer {
    /// A packer for texts like `dictionary` (at most deflate's 32 KB window of it
    /// is referred to).
    pub fn new(dictionary: &[u8]) -> Self {
        Packer {
            primed: Primed::new(dictionary),
        }
    }

    /// `text` deflated after the dictionary. None only on a compressor fault.
    pub fn pack(&self, text: &[u8]) -> Option<Box<[u8]>> {
        let primed = &self.primed;
        let mut compressor = primed.compressor.clone();
        let mut out = Vec::with_capacity(text.len() / 2 + 16);
        let (status, read) = compress_to_output(&mut compressor, text, TDEFLFlush::Finish, |b| {
            out.extend_from_slice(b);
            true
        });
        (status == TDEFLStatus::Done && read == text.len()).then(|| out.into_boxed_slice())
    }

    /// The text [`Packer::pack`] was given. None if `packed` did not come from this
    /// packer (it cannot be inflated, or is too large).
    pub fn unpack(&self, packed: &[u8]) -> Option<Vec<u8>> {
        let primed = &self.primed;
        let mut stream = Vec::with_capacity(primed.prefix.len() + packed.len());
        stream.extend_from_slice(&primed.prefix);
        stream.extend_from_slice(packed);
        let mut text = miniz_oxide::inflate::decompress_to_vec_with_limit(
            &stream,
            UNPACKED_AT_MOST + primed.len,
        )
        .ok()?;
        if text.len() < primed.len {
            return None;
        }
        text.drain(..primed.len);
        Some(text)
    }
}

/// How objects of one kind are packed: their JSON against a dictionary, after an
/// optional change into a form that packs smaller (undone when unpacked).
pub struct Packing<K> {
    packer: Packer,
    fold: fn(&mut K),
    unfold: fn(&mut K),
}

impl<K: serde::Serialize + serde::de::DeserializeOwned> Packing<K> {
    /// Packs objects like `typical` (its JSON, as packed, is the dictionary); `fold`
    /// changes an object before it is packed and `unfold` changes it back, exactly.
    pub fn new(typical: &K, fold: fn(&mut K), unfold: fn(&mut K)) -> Self {
        Packing {
            // A typical object is written as JSON like any other; were it not, the
            // packer would work without a dictionary.
            packer: Packer::new(&serde_json::to_vec(typical).unwrap_or_default()),
            fold,
            unfold,
        }
    }

    /// The object, packed; given back if it cannot be (it cannot be written as JSON).
    pub fn pack(&self, mut o: K) -> Result<Box<[u8]>, K> {
        (self.fold)(&mut o);
        match serde_json::to_vec(&o)
            .ok()
            .and_then(|j| self.packer.pack(&j))
        {
            Some(packed) => Ok(packed),
            None => {
                (self.unfold)(&mut o);
                Err(o)
            }
        }
    }

    /// The object [`Packing::pack`] packed.
    pub fn unpack(&self, packed: &[u8]) -> Option<K> {
        let mut o: K = serde_json::from_slice(&self.packer.unpack(packed)?).ok()?;
        (self.unfold)(&mut o);
        Some(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, uid: &str) -> Vec<u8> {
        format!(
            r#"{{"apiVersion":"cert-manager.io/v1","kind":"CertificateRequest","metadata":{{"name":"{name}","namespace":"team-a","uid":"{uid}","annotations":{{"cert-manager.io/certificate-name":"{name}","cert-manager.io/certificate-revision":"1","cert-manager.io/issuer-kind":"ClusterIssuer","cert-manager.io/issuer-name":"letsencrypt-prod"}}}},"status":{{"conditions":[{{"type":"Approved","status":"True","reason":"cert-manager.io","message":"Certificate request has been approved by cert-manager.io"}},{{"type":"Ready","status":"True","reason":"Issued","message":"Certificate fetched from issuer successfully"}}]}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn what_is_packed_unpacks_as_it_was() {
        let packer = Packer::new(&object("web", "0b6c1f9e-1d47-4a52-9a6c-3f0d2b8e7a11"));
        let first = object("web", "0b6c1f9e-1d47-4a52-9a6c-3f0d2b8e7a11");
        let second = object("api-gateway", "7d2e9c44-85b1-4f0e-b3a2-9c1d6e5f4a30");
        let p1 = packer.pack(&first).unwrap();
        let p2 = packer.pack(&second).unwrap();
        assert_eq!(packer.unpack(&p1).unwrap(), first);
        assert_eq!(packer.unpack(&p2).unwrap(), second);
        // Without a dictionary, as plain deflate.
        let plain = Packer::new(b"");
        assert_eq!(plain.unpack(&plain.pack(&second).unwrap()).unwrap(), second);
        // Empty and unrelated texts too.
        assert_eq!(packer.unpack(&packer.pack(b"").unwrap()).unwrap(), b"");
        let other = b"nothing like the dictionary: 0123456789".repeat(50);
        assert_eq!(packer.unpack(&packer.pack(&other).unwrap()).unwrap(), other);
    }

    #[test]
    fn an_object_like_the_dictionary_packs_to_its_differences() {
        let packer = Packer::new(&object("web", "0b6c1f9e-1d47-4a52-9a6c-3f0d2b8e7a11"));
        let second = object("api-gateway", "7d2e9c44-85b1-4f0e-b3a2-9c1d6e5f4a30");
        let alone = miniz_oxide::deflate::compress_to_vec(&second, 1).len();
        let against = packer.pack(&second).unwrap().len();
        // Alone it codes every key and message again; against the dictionary, its
        // names and uid and references.
        assert!(
            against * 3 < alone,
            "{against} bytes against the dictionary, {alone} alone"
        );
    }

    #[test]
    fn what_another_packer_packed_does_not_unpack() {
        let a = Packer::new(&object("web", "1"));
        let b = Packer::new(b"a different dictionary altogether, of another length");
        let p = b.pack(&object("web", "2")).unwrap();
        assert_ne!(a.unpack(&p), Some(object("web", "2")));
        assert!(a.unpack(b"\xff\xff\xff not deflate").is_none());
    }
}
