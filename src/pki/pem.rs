//! PEM: decoding blocks (with the error texts cert-manager's `pki` package gives)
//! and encoding them. Pure; a decoded block may hold a private key, so nothing here
//! derives `Debug` on it or puts input bytes in an error.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// One decoded PEM block. No `Debug`: it may hold a private key.
pub(crate) struct Block {
    pub label: String,
    pub der: Vec<u8>,
    pub encrypted: bool,
}

/// Why PEM decoding failed. Carries no data from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PemError {
    NotUtf8,
    Unterminated,
    Base64,
}

impl std::fmt::Display for PemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PemError::NotUtf8 => "PEM data is not valid text",
            PemError::Unterminated => "PEM block has no END line",
            PemError::Base64 => "PEM block is not valid base64",
        })
    }
}

/// All PEM blocks of `data`, in order (text outside blocks is ignored).
pub(crate) fn decode_all(data: &[u8]) -> Result<Vec<Block>, PemError> {
    let text = std::str::from_utf8(data).map_err(|_| PemError::NotUtf8)?;
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut encrypted = label.contains("ENCRYPTED");
        let mut terminated = false;
        for line in lines.by_ref() {
            let line = line.trim();
            if line == end {
                terminated = true;
                break;
            }
            if line.contains(':') {
                // RFC 1421 headers (Proc-Type: 4,ENCRYPTED ...).
                if line.contains("ENCRYPTED") {
                    encrypted = true;
                }
                continue;
            }
            body.push_str(line);
        }
        if !terminated {
            return Err(PemError::Unterminated);
        }
        let der = BASE64
            .decode(body.as_bytes())
            .map_err(|_| PemError::Base64)?;
        blocks.push(Block {
            label: label.to_string(),
            der,
            encrypted,
        });
    }
    Ok(blocks)
}

/// PEM with 64-character lines.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
/// The DER of every `CERTIFICATE` block in a PEM text (other blocks and broken
/// blocks are skipped).
pub fn certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect()
}
