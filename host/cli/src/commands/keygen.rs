//! `keygen`: a new RSA key pair for an Okta app's public-key client authentication. The private key goes
//! to a new 0600 file; the public key is printed as the JWK (and the PEM) Okta's "Add key" dialog takes,
//! with the next step. `instance add --generate-key` prints the same through [`print_registration`],
//! `setup` the public key through [`print_public_key`].

use super::emulator::quote;
use crate::args::KeygenArgs;
use okta_ingest::{GeneratedKey, KeyFileError, PublicKeyInfo};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where Okta takes the public key.
const OKTA_DIALOG: &str = "Okta Admin Console › Applications › your API Services app › General › Client Credentials › Edit › Public key / Private key › Add key";

/// Runs `keygen`.
pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = GeneratedKey::generate()?;
    key.write_private_pem(&args.out).map_err(|e| match e {
        KeyFileError::Exists { .. } => anyhow::anyhow!("{e}; the path is --out"),
        e => e.into(),
    })?;
    let path = absolute(&args.out);
    let public = key.public();
    if args.json {
        let s = |v: &str| serde_json::Value::from(v).to_string();
        // `jwk` is the library's compact JSON, inserted as is to keep Okta's member order.
        outln!(
            r#"{{"private_key":{},"kid":{},"jwk":{},"public_pem":{}}}"#,
            s(&path.display().to_string()),
            s(&public.kid),
            public.jwk,
            s(&public.pem)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let next = format!(
        "okta-ingest instance add NAME --domain ... --client-id ... --private-key {} --key-id {}",
        quote(&path),
        public.kid
    );
    print_registration(&path, public, &next)?;
    Ok(ExitCode::SUCCESS)
}

/// What to register in Okta for a key written to `private_key`, then `next`: the command to run once
/// the key is added there.
pub(crate) fn print_registration(
    private_key: &Path,
    public: &PublicKeyInfo,
    next: &str,
) -> std::io::Result<()> {
    outln!(
        "Private key written to {} (mode 0600): keep it; it never leaves this machine.",
        private_key.display()
    );
    outln!();
    print_public_key(public)?;
    outln!();
    outln!("Next, once the key is saved in Okta:");
    outln!("  {next}");
    Ok(())
}

/// The public half of a key as Okta's "Add key" dialog takes it: the JWK, the PEM, the key ID. The
/// `setup` wizard prints it too.
pub(crate) fn print_public_key(public: &PublicKeyInfo) -> std::io::Result<()> {
    outln!("{OKTA_DIALOG}: paste this JWK");
    outln!("{}", public.jwk_pretty());
    outln!();
    outln!("Or, where the dialog asks for a PEM public key, paste this:");
    out!("{}", public.pem);
    outln!();
    outln!(
        "Key ID (kid): {} (RSA {} bits, RS256)",
        public.kid,
        public.bits
    );
    Ok(())
}

/// `path` from the root, so the printed lines work from any directory.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
