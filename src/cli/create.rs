//! `certgate create certificaterequest`: as `cmctl create certificaterequest`, makes a
//! CertificateRequest from a Certificate manifest used as a template. The private key
//! is generated here, as the Certificate's `spec.privateKey` says, and written to a
//! local file (mode 0600); the request carries the CSR certgate's controller would
//! build for that Certificate. With `--fetch-certificate` the command waits until the
//! request is signed and writes the certificate to a file.
//!
//! The key is never printed: only the name of the file it went to.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use kube::ResourceExt;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::Value;

use crate::api::certificate::PrivateKeyEncoding;
use crate::api::meta::ConditionStatus;
use crate::api::{Certificate, CertificateRequest, CertificateRequestSpec};
use crate::certificates::snapshot::request_condition;
use crate::cli::approve::api_message;
use crate::pki::csr::build_csr;
use crate::pki::key::{KeyAlgorithm, KeyError, PrivateKey};

/// cmctl's default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How often the request is read while waiting for it to be signed (cmctl's).
const POLL_EVERY: Duration = Duration::from_secs(1);

/// The flags of `create certificaterequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `--from-certificate-file`: the Certificate manifest used as a template.
    pub from_certificate_file: Option<PathBuf>,
    /// `--output-key-file` (default `<name>.key`).
    pub output_key_file: Option<PathBuf>,
    /// `--output-certificate-file` (default `<name>.crt`), with `--fetch-certificate` only.
    pub output_certificate_file: Option<PathBuf>,
    /// `--fetch-certificate`: wait until signed and write the certificate.
    pub fetch_certificate: bool,
    /// `--timeout`: how long to wait for the signature.
    pub timeout: Duration,
    /// `-n`: given explicitly, it must agree with the manifest's namespace.
    pub namespace: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            from_certificate_file: None,
            output_key_file: None,
            output_certificate_file: None,
            fetch_certificate: false,
            timeout: DEFAULT_TIMEOUT,
            namespace: None,
        }
    }
}

/// What was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub namespace: String,
    pub name: String,
    /// Where the private key was written.
    pub key_file: PathBuf,
    /// Where the certificate was written (with `--fetch-certificate`).
    pub certificate_file: Option<PathBuf>,
}

/// Why the command failed, in cmctl's words where cmctl has them.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("the name of the CertificateRequest to be created has to be provided as argument")]
    NoName,
    #[error("only one argument can be passed in: the name of the CertificateRequest")]
    TooManyArguments,
    #[error(
        "the path to a YAML manifest of a Certificate resource cannot be empty, please specify by using --from-certificate-file flag"
    )]
    NoManifest,
    #[error("the file to store private key cannot be the same as the file to store certificate")]
    SameFiles,
    #[error(
        "cannot specify file to store certificate if not waiting for and fetching certificate, please set --fetch-certificate flag"
    )]
    CertificateFileWithoutFetch,
    #[error("the path {0:?} does not exist")]
    NoSuchFile(String),
    #[error("error reading {file:?}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("error parsing {file}: {detail}")]
    Parse { file: String, detail: String },
    #[error("no objects found in manifest file {0:?}. Expected one Certificate object")]
    NoObjects(String),
    #[error("multiple objects found in manifest file {0:?}. Expected only one Certificate object")]
    MultipleObjects(String),
    #[error("decoded object is not a v1 Certificate")]
    NotCertificate,
    #[error("error decoding the Certificate in {file:?}: {detail}")]
    InvalidCertificate { file: String, detail: String },
    #[error(
        "the namespace from the provided object {object:?} does not match the namespace {flag:?}. You must pass '--namespace={object}' to perform this operation."
    )]
    NamespaceMismatch { object: String, flag: String },
    #[error("error when generating new private key for CertificateRequest: {0}")]
    GenerateKey(#[source] KeyError),
    #[error("error when generating new private key for CertificateRequest: key generation stopped")]
    Interrupted,
    #[error("failed to encode new private key for CertificateRequest: {0}")]
    EncodeKey(#[source] KeyError),
    #[error("error when writing private key to file: {0}")]
    WriteKey(#[source] std::io::Error),
    #[error("error when building CertificateRequest: {0}")]
    Build(#[source] KeyError),
    #[error("error creating CertificateRequest: {}", api_message(.0))]
    Create(#[source] kube::Error),
    #[error("error when waiting for CertificateRequest to be signed: {0}")]
    Wait(String),
    #[error("error when writing certificate to file: {0}")]
    WriteCertificate(String),
}

impl Options {
    /// cmctl's checks of the arguments and flags; returns the one name.
    pub fn validate<'a>(&self, args: &'a [String]) -> Result<&'a str, CreateError> {
        let name = match args {
            [] => return Err(CreateError::NoName),
            [name] => name.as_str(),
            _ => return Err(CreateError::TooManyArguments),
        };
        self.check_flags()?;
        Ok(name)
    }

    fn check_flags(&self) -> Result<&Path, CreateError> {
        let file = match self.from_certificate_file.as_deref() {
            Some(f) if !f.as_os_str().is_empty() => f,
            _ => return Err(CreateError::NoManifest),
        };
        if let (Some(k), Some(c)) = (&self.output_key_file, &self.output_certificate_file)
            && !k.as_os_str().is_empty()
            && k == c
        {
            return Err(CreateError::SameFiles);
        }
        if !self.fetch_certificate
            && self
                .output_certificate_file
                .as_ref()
                .is_some_and(|c| !c.as_os_str().is_empty())
        {
            return Err(CreateError::CertificateFileWithoutFetch);
        }
        Ok(file)
    }
}

/// Reads the one Certificate of the manifest `file` (YAML or JSON; a `List` is
/// flattened). `namespace` is the one given with `-n`, which must agree with the
/// manifest's.
pub fn read_certificate(file: &Path, namespace: Option<&str>) -> Result<Certificate, CreateError> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CreateError::NoSuchFile(shown.clone()),
        _ => CreateError::Read {
            file: shown.clone(),
            source: e,
        },
    })?;
    let docs = crate::manifests::parse_documents(&shown, &text).map_err(|e| match e {
        crate::manifests::ManifestError::Yaml { detail, .. } => CreateError::Parse {
            file: shown.clone(),
            detail,
        },
        other => CreateError::Parse {
            file: shown.clone(),
            detail: other.to_string(),
        },
    })?;
    let mut objects: Vec<Value> = Vec::new();
    for doc in docs {
        match doc.get("items").and_then(Value::as_array) {
            Some(items) if doc.get("kind").and_then(Value::as_str) == Some("List") => {
                objects.extend(items.iter().cloned());
            }
            _ => objects.push(doc),
        }
    }
    let mut doc = match objects.len() {
        0 => return Err(CreateError::NoObjects(shown)),
        1 => objects.remove(0),
        _ => return Err(CreateError::MultipleObjects(shown)),
    };
    let is_certificate = doc.get("apiVersion").and_then(Value::as_str)
        == Some("cert-manager.io/v1")
        && doc.get("kind").and_then(Value::as_str) == Some("Certificate");
    if !is_certificate {
        return Err(CreateError::NotCertificate);
    }
    if let (Some(object), Some(flag)) = (
        doc.pointer("/metadata/namespace").and_then(Value::as_str),
        namespace,
    ) && !object.is_empty()
        && object != flag
    {
        return Err(CreateError::NamespaceMismatch {
            object: object.to_string(),
            flag: flag.to_string(),
        });
    }
    // The Secret is not used here: a template without one is fine, as for cmctl.
    if let Some(spec) = doc.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("secretName")
            .or_insert_with(|| Value::String(String::new()));
    }
    serde_json::from_value(doc).map_err(|e| CreateError::InvalidCertificate {
        file: shown,
        detail: e.to_string(),
    })
}

/// Writes `data` to `path` readable by its owner only (mode 0600, also when the file
/// already existed).
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(data)?;
    f.flush()
}

/// The CertificateRequest cmctl builds from the Certificate: its labels and
/// annotations; issuerRef, duration, isCA and usages; the CSR.
fn build_request(crt: &Certificate, name: &str, csr_pem: &str) -> CertificateRequest {
    let spec = &crt.spec;
    CertificateRequest {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            annotations: crt.metadata.annotations.clone(),
            labels: crt.metadata.labels.clone(),
            ..Default::default()
        },
        spec: CertificateRequestSpec {
            request: base64::engine::general_purpose::STANDARD.encode(csr_pem.as_bytes()),
            duration: spec.duration.clone(),
            issuer_ref: spec.issuer_ref.clone(),
            is_ca: spec.is_ca,
            usages: spec.usages.clone(),
            ..Default::default()
        },
        status: None,
    }
}

/// Why a request will never be signed: denied, invalid or failed (the condition's
/// reason and message).
fn terminal(req: &CertificateRequest) -> Option<String> {
    let id = format!(
        "CertificateRequest {}/{}",
        req.namespace().unwrap_or_default(),
        req.name_any()
    );
    let says = |type_: &str| {
        request_condition(req, type_)
            .map(|c| {
                format!(
                    "{}: {}",
                    c.reason.as_deref().unwrap_or(""),
                    c.message.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default()
    };
    let is_true =
        |t: &str| request_condition(req, t).is_some_and(|c| c.status == ConditionStatus::True);
    if is_true("Denied") {
        return Some(format!("{id} was denied: {}", says("Denied")));
    }
    if is_true("InvalidRequest") {
        return Some(format!("{id} is invalid: {}", says("InvalidRequest")));
    }
    let failed = request_condition(req, "Ready").is_some_and(|c| {
        c.status == ConditionStatus::False
            && matches!(c.reason.as_deref(), Some("Failed") | Some("Denied"))
    });
    failed.then(|| format!("{id} failed: {}", says("Ready")))
}

/// The signed certificate (PEM) of a Ready request, if it has one.
fn signed_certificate(req: &CertificateRequest) -> Option<&str> {
    let ready = request_condition(req, "Ready").is_some_and(|c| c.status == ConditionStatus::True);
    let cert = req.status.as_ref()?.certificate.as_deref()?;
    (ready && !cert.is_empty()).then_some(cert)
}

/// Polls every second until the request is signed (or will never be), at most `timeout`.
async fn wait_signed(
    api: &Api<CertificateRequest>,
    name: &str,
    timeout: Duration,
) -> Result<CertificateRequest, CreateError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::Instant::now() + POLL_EVERY;
        if next > deadline {
            tokio::time::sleep_until(deadline).await;
            return Err(CreateError::Wait("context deadline exceeded".into()));
        }
        tokio::time::sleep_until(next).await;
        // As cmctl: a failed read is retried until the deadline.
        let Ok(req) = api.get(name).await else {
            continue;
        };
        if signed_certificate(&req).is_some() {
            return Ok(req);
        }
        if let Some(why) = terminal(&req) {
            return Err(CreateError::Wait(why));
        }
    }
}

/// Runs `create certificaterequest NAME`: reads the Certificate template, generates
/// and writes the private key, creates the CertificateRequest in the manifest's
/// namespace (else `-n`'s, else the kubeconfig context's) and, with
/// `--fetch-certificate`, waits for it to be signed and writes the certificate.
/// cmctl's progress lines go to `progress`.
pub async fn certificate_request<W: Write + Send>(
    client: &kube::Client,
    name: &str,
    opts: &Options,
    progress: &mut W,
) -> Result<Created, CreateError> {
    if name.is_empty() {
        return Err(CreateError::NoName);
    }
    let file = opts.check_flags()?;
    let crt = read_certificate(file, opts.namespace.as_deref())?;

    let spec_key = crt.spec.private_key.clone().unwrap_or_default();
    let encoding = spec_key.encoding.unwrap_or(PrivateKeyEncoding::Pkcs1);
    let alg = KeyAlgorithm::from_spec(Some(&spec_key)).map_err(CreateError::GenerateKey)?;
    // RSA keys take a while: off the async workers.
    let key = tokio::task::spawn_blocking(move || PrivateKey::generate(alg))
        .await
        .map_err(|_| CreateError::Interrupted)?
        .map_err(CreateError::GenerateKey)?;
    let key_pem = key.to_pem(encoding).map_err(CreateError::EncodeKey)?;

    let key_file = opts
        .output_key_file
        .clone()
        .filter(|f| !f.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(format!("{name}.key")));
    write_private(&key_file, key_pem.as_bytes()).map_err(CreateError::WriteKey)?;
    drop(key_pem);
    let _ = writeln!(
        progress,
        "Private key written to file {}",
        key_file.display()
    );

    let csr = build_csr(&crt.spec, &key).map_err(CreateError::Build)?;
    drop(key);
    let request = build_request(&crt, name, &csr);
    let namespace = crt
        .metadata
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| opts.namespace.clone())
        .unwrap_or_else(|| client.default_namespace().to_string());
    let api: Api<CertificateRequest> = Api::namespaced(client.clone(), &namespace);
    let created = api
        .create(&PostParams::default(), &request)
        .await
        .map_err(CreateError::Create)?;
    let name = created.name_any();
    let _ = writeln!(
        progress,
        "CertificateRequest {name} has been created in namespace {namespace}"
    );
    let mut done = Created {
        namespace: namespace.clone(),
        name: name.clone(),
        key_file,
        certificate_file: None,
    };
    if !opts.fetch_certificate {
        return Ok(done);
    }

    let _ = writeln!(
        progress,
        "CertificateRequest {name} in namespace {namespace} has not been signed yet. Wait until it is signed..."
    );
    let signed = wait_signed(&api, &name, opts.timeout).await?;
    let _ = writeln!(
        progress,
        "CertificateRequest {name} in namespace {namespace} has been signed"
    );
    let pem = signed_certificate(&signed)
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .ok_or_else(|| {
            CreateError::WriteCertificate(
                "the CertificateRequest's status.certificate is not valid base64".into(),
            )
        })?;
    let cert_file = opts
        .output_certificate_file
        .clone()
        .filter(|f| !f.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(format!("{name}.crt")));
    write_private(&cert_file, &pem).map_err(|e| CreateError::WriteCertificate(e.to_string()))?;
    let _ = writeln!(
        progress,
        "Certificate written to file {}",
        cert_file.display()
    );
    done.certificate_file = Some(cert_file);
    Ok(done)
}
