//! Where artifacts come from: a migrations directory, a bundle, or the copies stored in the
//! database, each loaded, checked against the trust policy and compiled the same way.
//!
//! Owns: turning bytes into loaded [`artifact::Artifact`]s. Must not import `run`, `build` or
//! `cli`.

pub mod artifact;
