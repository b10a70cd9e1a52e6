//! What the host keeps for DPoP (RFC 9449), so that tokens can be bound without the key entering the
//! sandbox: the process's proof key ([`ProofKey`]: generated in memory, never stored or logged) and the
//! token endpoints' nonces ([`Nonces`]: one per Okta domain, kept in memory and in the state). The
//! connector builds the proofs (Okta's rules are its business) and calls the WIT `dpop` interface.

mod key;
mod nonces;

pub(crate) use key::ProofKey;
pub use key::ALG;
pub(crate) use nonces::Nonces;
