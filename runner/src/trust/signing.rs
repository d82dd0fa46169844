//! Signed artifacts.
//!
//! Formats (all existing, none invented here):
//! - keys are OpenSSH Ed25519 keys: the private key file `-----BEGIN OPENSSH PRIVATE KEY-----`
//!   and the one-line public key `ssh-ed25519 AAAA… comment`, exactly what
//!   `ssh-keygen -t ed25519` writes, so teams can reuse the keys and tooling they have;
//! - a signature is an SSHSIG (OpenSSH's `PROTOCOL.sshsig`, what `ssh-keygen -Y sign` writes)
//!   in namespace [`NAMESPACE`], hash SHA-512, PEM-armoured;
//! - it travels inside the component, in one custom section named [`SECTION`] whose payload
//!   is that PEM text. The signed message is the component *without* that section, which is
//!   also what the digest covers: signing never changes an artifact's digest.
//!
//! A key id is the key's SHA-256 fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).

use std::ops::Range;
use std::path::Path;

use sha2::{Digest, Sha256};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

/// Why a key, a signature or the trust policy refused, by kind; the message says what and
/// how to go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// A key file could not be read.
    #[error("cannot read the key {}", path.display())]
    Read {
        /// The key file.
        path: std::path::PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A key is not one Retort uses: not OpenSSH, protected by a passphrase, not Ed25519.
    #[error("{0}")]
    Key(String),
    /// A signature is malformed, altered, made for another namespace or algorithm, or does
    /// not match the bytes.
    #[error("{0}")]
    Signature(String),
    /// The bytes are not a component whose sections can be read.
    #[error("{0}")]
    Artifact(String),
    /// The trust policy refuses: unsigned, or signed by an untrusted key, where signatures
    /// are required.
    #[error("{0}")]
    Refused(String),
    /// Making or encoding a key or a signature failed.
    #[error("{0}")]
    Crypto(String),
}

/// The custom section that carries an artifact's signature.
pub const SECTION: &str = "retort-signature";
/// The SSHSIG namespace of artifact and bundle signatures: a signature made for something
/// else (`git`, `file`) never verifies as a migration's.
pub const NAMESPACE: &str = "retort";

/// A component split into what is signed and the signature.
#[derive(Debug)]
pub struct Split<'a> {
    bytes: &'a [u8],
    kept: Vec<Range<usize>>,
    /// The payload of the signature section, if there is one.
    pub signature: Option<&'a [u8]>,
}

impl Split<'_> {
    /// SHA-256 of the bytes without the signature section, lowercase hex.
    pub fn digest(&self) -> String {
        let mut hash = Sha256::new();
        for r in &self.kept {
            hash.update(&self.bytes[r.clone()]);
        }
        hex(&hash.finalize())
    }

    /// The bytes without the signature section: the signed message.
    pub fn unsigned(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len());
        for r in &self.kept {
            out.extend_from_slice(&self.bytes[r.clone()]);
        }
        out
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn leb_u32(bytes: &[u8], at: &mut usize) -> Result<u32, String> {
    let mut value: u32 = 0;
    for shift in (0..35).step_by(7) {
        let Some(&b) = bytes.get(*at) else {
            return Err(format!("truncated length at byte {at}"));
        };
        *at += 1;
        value |= u32::from(b & 0x7f)
            .checked_shl(shift)
            .ok_or_else(|| format!("length too large at byte {}", *at - 1))?;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(format!("length too long at byte {at}"))
}

/// One top-level section of a WebAssembly binary: its bytes' range and, for a custom
/// section, its name and payload.
struct Section<'a> {
    range: Range<usize>,
    custom: Option<(&'a [u8], &'a [u8])>,
}

/// The top-level sections of a WebAssembly binary (module or component), in order; the one
/// walk over the section headers that [`split`] and [`custom_section`] share.
fn sections(bytes: &[u8]) -> Result<Vec<Section<'_>>, String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("not a WebAssembly binary".into());
    }
    let mut out = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let start = at;
        let id = bytes[at];
        at += 1;
        let size = leb_u32(bytes, &mut at)? as usize;
        let end = at
            .checked_add(size)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| format!("section at byte {start} runs past the end of the file"))?;
        let custom = if id == 0 {
            let mut name_at = at;
            let len = leb_u32(bytes, &mut name_at)? as usize;
            let name_end = name_at
                .checked_add(len)
                .filter(|&e| e <= end)
                .ok_or_else(|| format!("custom section name at byte {start} is malformed"))?;
            Some((&bytes[name_at..name_end], &bytes[name_end..end]))
        } else {
            None
        };
        out.push(Section {
            range: start..end,
            custom,
        });
        at = end;
    }
    Ok(out)
}

/// Walks the top-level sections of a WebAssembly binary (module or component: both frame
/// sections as id, LEB128 size, payload) and finds the signature section.
pub fn split(bytes: &[u8]) -> Result<Split<'_>, String> {
    let mut kept: Vec<Range<usize>> = Vec::with_capacity(8);
    kept.push(0..8);
    let mut signature = None;
    for section in sections(bytes)? {
        match section.custom {
            Some((name, payload)) if name == SECTION.as_bytes() => {
                if signature.is_some() {
                    return Err(format!("more than one `{SECTION}` section"));
                }
                signature = Some(payload);
            }
            _ => match kept.last_mut() {
                Some(last) if last.end == section.range.start => last.end = section.range.end,
                _ => kept.push(section.range),
            },
        }
    }
    Ok(Split {
        bytes,
        kept,
        signature,
    })
}

/// The payload of the first top-level custom section called `name`, if any.
pub fn custom_section<'a>(bytes: &'a [u8], name: &str) -> Option<&'a [u8]> {
    sections(bytes)
        .ok()?
        .into_iter()
        .find_map(|s| match s.custom {
            Some((n, payload)) if n == name.as_bytes() => Some(payload),
            _ => None,
        })
}

/// Appends a custom section `name` with `payload` to a WebAssembly binary.
pub fn append_custom_section(bytes: &mut Vec<u8>, name: &str, payload: &[u8]) {
    let mut body = Vec::new();
    push_leb(&mut body, name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    bytes.push(0);
    push_leb(bytes, body.len());
    bytes.extend_from_slice(&body);
}

/// SHA-256 of an artifact without its signature section; for bytes that are not WebAssembly,
/// of all of them (they are refused later with a better message).
pub fn digest(bytes: &[u8]) -> String {
    match split(bytes) {
        Ok(s) => s.digest(),
        Err(_) => hex(&Sha256::digest(bytes)),
    }
}

fn push_leb(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The SHA-256 fingerprint of a key, as `ssh-keygen -l` prints it.
pub fn key_id(key: &ssh_key::public::KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Signs `message` (SSHSIG, namespace [`NAMESPACE`]); returns the PEM text.
pub fn sign_message(key: &PrivateKey, message: &[u8]) -> Result<String, SigningError> {
    let sig = key
        .sign(NAMESPACE, HashAlg::Sha512, message)
        .map_err(|e| SigningError::Crypto(format!("cannot sign: {e}")))?;
    sig.to_pem(LineEnding::LF)
        .map_err(|e| SigningError::Crypto(format!("cannot encode the signature: {e}")))
}

/// Returns `bytes` signed with `key`: any previous signature is replaced, nothing else
/// changes, and the digest stays the same.
pub fn sign_artifact(bytes: &[u8], key: &PrivateKey) -> Result<Vec<u8>, SigningError> {
    let split = split(bytes).map_err(SigningError::Artifact)?;
    let mut out = split.unsigned();
    let pem = sign_message(key, &out)?;
    append_custom_section(&mut out, SECTION, pem.as_bytes());
    Ok(out)
}

/// What a signature says, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// There is no signature.
    Unsigned,
    /// The signature verifies; `trusted` is the name of the trusted key that made it.
    Signed {
        /// The signer's key id (`SHA256:…`).
        key_id: String,
        /// The trusted key's name, or `None` when the key is not trusted.
        trusted: Option<String>,
    },
}

/// Checks an SSHSIG (PEM text) over `message`. An error means the signature is malformed,
/// was made for another namespace or algorithm, or does not match the bytes.
pub fn check_signature(pem: &[u8], message: &[u8], trust: &Trust) -> Result<Verdict, SigningError> {
    let sig = SshSig::from_pem(pem)
        .map_err(|e| SigningError::Signature(format!("the signature is malformed ({e})")))?;
    // Only the canonical encoding is accepted, so that no byte of the section can change
    // unnoticed (not even whitespace the PEM decoder would tolerate).
    if sig
        .to_pem(LineEnding::LF)
        .ok()
        .as_deref()
        .map(str::as_bytes)
        != Some(pem)
    {
        return Err(SigningError::Signature(
            "the signature is not in its canonical PEM form: it was altered".into(),
        ));
    }
    if sig.namespace() != NAMESPACE {
        return Err(SigningError::Signature(format!(
            "the signature is for namespace `{}`, not `{NAMESPACE}`",
            sig.namespace()
        )));
    }
    if sig.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(SigningError::Signature(format!(
            "the signature uses {}, but Retort accepts Ed25519 only",
            sig.algorithm()
        )));
    }
    let key = PublicKey::from(sig.public_key().clone());
    key.verify(NAMESPACE, message, &sig).map_err(|_| {
        SigningError::Signature(
            "the signature does not match the bytes: the file changed after it was signed".into(),
        )
    })?;
    let key_id = key_id(sig.public_key());
    let trusted = trust
        .keys
        .iter()
        .find(|k| k.key.key_data() == sig.public_key())
        .map(|k| k.name.clone());
    Ok(Verdict::Signed { key_id, trusted })
}

/// Checks an artifact's embedded signature.
pub fn verify_artifact(split: &Split<'_>, trust: &Trust) -> Result<Verdict, SigningError> {
    match split.signature {
        None => Ok(Verdict::Unsigned),
        Some(pem) => check_signature(pem, &split.unsigned(), trust),
    }
}

/// One trusted public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedKey {
    /// The key.
    pub key: PublicKey,
    /// Where it came from and its comment, for messages.
    pub name: String,
}

/// Which keys are trusted, and whether a database requires signatures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    /// The trusted keys.
    pub keys: Vec<TrustedKey>,
    /// Refuse artifacts that are not signed by a trusted key.
    pub required: bool,
}

impl Trust {
    /// Decides whether an artifact may run. `Ok` carries the signer to record.
    pub fn admit(&self, split: &Split<'_>, database: &str) -> Result<Option<String>, SigningError> {
        self.decide(verify_artifact(split, self)?, database)
    }

    /// The policy applied to a signature check's verdict, for an artifact or a bundle
    /// manifest of database `database`: a trusted signer is recorded; an untrusted or missing
    /// signature is refused where signatures are required, and otherwise runs unrecorded.
    pub fn decide(&self, verdict: Verdict, database: &str) -> Result<Option<String>, SigningError> {
        match verdict {
            Verdict::Signed {
                key_id,
                trusted: Some(_),
            } => Ok(Some(key_id)),
            Verdict::Signed { key_id, .. } if self.required => Err(SigningError::Refused(format!(
                "it is signed by {key_id}, which is not a trusted key of this project ([trust] keys)"
            ))),
            Verdict::Unsigned if self.required => Err(SigningError::Refused(format!(
                "it is not signed, and database `{database}` requires signatures (require_signatures)"
            ))),
            Verdict::Signed { .. } | Verdict::Unsigned => Ok(None),
        }
    }
}

/// Parses public keys: one per line (`ssh-ed25519 AAAA… comment`); blank lines and `#`
/// comments are skipped. `origin` names the source in messages.
pub fn parse_public_keys(text: &str, origin: &str) -> Result<Vec<TrustedKey>, SigningError> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = PublicKey::from_openssh(line).map_err(|e| {
            SigningError::Key(format!(
                "{origin}, line {}: not an OpenSSH public key ({e})",
                n + 1
            ))
        })?;
        if key.algorithm() != ssh_key::Algorithm::Ed25519 {
            return Err(SigningError::Key(format!(
                "{origin}, line {}: a {} key; Retort accepts Ed25519 keys only",
                n + 1,
                key.algorithm()
            )));
        }
        let name = if key.comment().is_empty() {
            origin.to_string()
        } else {
            key.comment().to_string()
        };
        keys.push(TrustedKey { key, name });
    }
    if keys.is_empty() {
        return Err(SigningError::Key(format!("{origin}: no public key in it")));
    }
    Ok(keys)
}

/// Reads an unencrypted OpenSSH Ed25519 private key.
pub fn read_private_key(path: &Path) -> Result<PrivateKey, SigningError> {
    let text = std::fs::read_to_string(path).map_err(|source| SigningError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let key = PrivateKey::from_openssh(&text).map_err(|e| {
        SigningError::Key(format!(
            "{} is not an OpenSSH private key ({e}); `retort keygen` or `ssh-keygen -t ed25519` makes one",
            path.display()
        ))
    })?;
    if key.is_encrypted() {
        return Err(SigningError::Key(format!(
            "{} is protected by a passphrase, which Retort does not read; sign with a key kept in \
             a secret store, or remove the passphrase of a copy (`ssh-keygen -p -f COPY`)",
            path.display()
        )));
    }
    if key.algorithm() != ssh_key::Algorithm::Ed25519 {
        return Err(SigningError::Key(format!(
            "{} is a {} key; Retort signs with Ed25519 keys only",
            path.display(),
            key.algorithm()
        )));
    }
    Ok(key)
}

/// Makes a new Ed25519 key pair; returns (private key file text, public key line).
pub fn generate(comment: &str) -> Result<(String, String), SigningError> {
    let crypto =
        |what: &str, e: ssh_key::Error| SigningError::Crypto(format!("cannot {what}: {e}"));
    let mut key = PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519)
        .map_err(|e| crypto("generate a key", e))?;
    key.set_comment(comment);
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| crypto("encode the key", e))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| crypto("encode the public key", e))?;
    Ok((private.to_string(), public))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: header only.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn with_custom(name: &str, payload: &[u8]) -> Vec<u8> {
        let mut out = EMPTY_COMPONENT.to_vec();
        append_custom_section(&mut out, name, payload);
        assert_eq!(custom_section(&out, name), Some(payload));
        out
    }

    fn key() -> (PrivateKey, Trust) {
        let (private, public) = generate("test@example").unwrap();
        let key = PrivateKey::from_openssh(private).unwrap();
        let keys = parse_public_keys(&public, "test.pub").unwrap();
        (
            key,
            Trust {
                keys,
                required: true,
            },
        )
    }

    #[test]
    fn signing_keeps_the_digest_and_verifies() {
        let bytes = with_custom("name", b"other custom sections are signed");
        let (key, trust) = key();
        let signed = sign_artifact(&bytes, &key).unwrap();
        assert_ne!(signed, bytes);
        assert_eq!(digest(&signed), digest(&bytes));
        assert_eq!(digest(&bytes), hex(&Sha256::digest(&bytes)));
        let split = split(&signed).unwrap();
        assert!(split.signature.is_some());
        assert_eq!(split.unsigned(), bytes);
        assert!(
            trust
                .admit(&split, "db")
                .unwrap()
                .unwrap()
                .starts_with("SHA256:")
        );
        // Re-signing replaces the signature instead of adding a second one.
        let again = sign_artifact(&signed, &key).unwrap();
        assert!(super::split(&again).is_ok());
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let bytes = with_custom("name", b"payload that matters");
        let (key, trust) = key();
        let signed = sign_artifact(&bytes, &key).unwrap();
        for i in 0..signed.len() {
            let mut bad = signed.clone();
            bad[i] ^= 0x01;
            let admitted = split(&bad)
                .map_err(SigningError::Artifact)
                .and_then(|s| trust.admit(&s, "db"));
            assert!(admitted.is_err(), "flipping byte {i} was not noticed");
        }
    }

    #[test]
    fn unsigned_and_untrusted_are_refused_only_when_required() {
        let bytes = with_custom("name", b"x");
        let (_, mut trust) = key();
        let (other, _) = key();
        let by_other = sign_artifact(&bytes, &other).unwrap();
        let e = trust.admit(&split(&bytes).unwrap(), "db").unwrap_err();
        assert!(
            matches!(&e, SigningError::Refused(m) if m.contains("not signed")),
            "{e}"
        );
        let e = trust.admit(&split(&by_other).unwrap(), "db").unwrap_err();
        assert!(
            matches!(&e, SigningError::Refused(m) if m.contains("not a trusted key")),
            "{e}"
        );
        trust.required = false;
        assert_eq!(trust.admit(&split(&bytes).unwrap(), "db").unwrap(), None);
        assert_eq!(trust.admit(&split(&by_other).unwrap(), "db").unwrap(), None);
    }

    #[test]
    fn a_signature_for_another_namespace_is_refused() {
        let bytes = with_custom("name", b"x");
        let (key, trust) = key();
        let sig = key.sign("file", HashAlg::Sha512, &bytes).unwrap();
        let pem = sig.to_pem(LineEnding::LF).unwrap();
        let e = check_signature(pem.as_bytes(), &bytes, &trust).unwrap_err();
        assert!(
            matches!(&e, SigningError::Signature(m) if m.contains("namespace `file`")),
            "{e}"
        );
    }

    #[test]
    fn malformed_binaries_are_errors_not_panics() {
        assert!(split(b"").is_err());
        assert!(split(b"\0asm\x0d\x00\x01\x00\x00\xff\xff\xff\xff\x0f").is_err());
        assert!(split(b"\0asm\x0d\x00\x01\x00\x00\x05").is_err());
        assert!(split(EMPTY_COMPONENT).unwrap().signature.is_none());
    }
}
