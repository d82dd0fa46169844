//! Trust: digests, Ed25519 signatures (SSHSIG inside the component), the trust policy and
//! bundles.
//!
//! Owns: deciding whether bytes may run. Must not import `run` or `authoring`.

pub mod bundle;
pub mod signing;
