//! `keygen` and `instance add --generate-key`: the key pair a user registers in Okta's "Add key" dialog.
//! The private key lands in a 0600 file only; what is printed (JWK, PEM, kid) is the public half, and it
//! is what the org then accepts.

use crate::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use okta_emulator::{client_key_pair_from_pem, ClientRegistration, EmulatorConfig};
use sha2::{Digest, Sha256};
use std::path::Path;

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

async fn keygen(dir: &Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(BIN)
        .arg("keygen")
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("binary runs")
}

/// No line of the private key's base64 body appears in `said`.
fn assert_private_key_not_in(said: &str, private_pem: &str) {
    assert!(!said.contains("PRIVATE KEY"), "{said}");
    for line in private_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(
            !said.contains(line),
            "a private key line was printed: {said}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygen_writes_the_private_key_to_a_0600_file_and_prints_only_the_public_half() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("new-dir/app.pem");
    let out = out_path.display().to_string();
    let run = keygen(dir.path(), &["--out", &out, "--json"]).await;
    assert!(run.status.success(), "{}", text(&run));
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["jwk", "kid", "private_key", "public_pem"]);
    assert_eq!(json["private_key"], out.as_str());

    let private = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        private.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "PKCS#8"
    );
    #[cfg(unix)]
    assert_eq!(mode(&out_path), 0o600);
    assert_private_key_not_in(&stdout, &private);

    // The kid is the RFC 7638 thumbprint of the file's public key.
    let kid = json["kid"].as_str().unwrap();
    let from_file = okta_ingest::PublicKeyInfo::from_private_pem(&private).expect("parses");
    assert_eq!(from_file.kid, kid);
    assert_eq!(json["public_pem"], from_file.pem.as_str());
    let independent = client_key_pair_from_pem("any", &private).expect("an RSA key");
    assert_eq!(json["public_pem"], independent.public_key_pem.as_str());

    // The JWK: exactly Okta's members, and its own thumbprint is the kid.
    let jwk = json["jwk"].as_object().expect("jwk is an object");
    let mut members: Vec<&str> = jwk.keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(
        (&jwk["kty"], &jwk["alg"], &jwk["use"], &jwk["kid"]),
        (
            &"RSA".into(),
            &"RS256".into(),
            &"sig".into(),
            &serde_json::Value::from(kid)
        )
    );
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        jwk["e"].as_str().unwrap(),
        jwk["n"].as_str().unwrap()
    );
    assert_eq!(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical)), kid);
    // Members in Okta's order (kty, e, n, kid, alg, use) on the wire.
    let wire = &stdout[stdout.find(r#""jwk":"#).unwrap()..];
    let order: Vec<usize> = ["\"kty\"", "\"e\"", "\"n\"", "\"kid\"", "\"alg\"", "\"use\""]
        .iter()
        .map(|m| wire.find(m).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{stdout}");

    // A second run does not overwrite the key.
    let again = keygen(dir.path(), &["--out", &out, "--json"]).await;
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already exists") && err.contains("--out"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), private);

    // Text, to the default file in the current directory.
    let run = keygen(dir.path(), &[]).await;
    assert!(run.status.success(), "{}", text(&run));
    let default = dir.path().join("okta-app-key.pem");
    let private = std::fs::read_to_string(&default).expect("okta-app-key.pem");
    let info = okta_ingest::PublicKeyInfo::from_private_pem(&private).unwrap();
    let said = String::from_utf8_lossy(&run.stdout).to_string();
    for want in [
        "keep it; it never leaves this machine",
        "Okta Admin Console › Applications › your API Services app › General › Client Credentials › Edit › Public key / Private key › Add key: paste this JWK",
        &info.jwk_pretty(),
        &info.pem,
        &format!(
            "okta-ingest instance add NAME --domain ... --client-id ... --private-key {} --key-id {}",
            default.display(),
            info.kid
        ),
    ] {
        assert!(said.contains(want), "{want:?} not in:\n{said}");
    }
    assert_private_key_not_in(&said, &private);
}

/// `instance add NAME --generate-key` for this emulator (client id `0oa-generated`).
async fn add_generated(fx: &Fixture, name: &str) -> std::process::Output {
    let domain = fx.emulator.domain();
    let ca = fx.path("ca.pem").display().to_string();
    fx.cli(&[
        "instance",
        "add",
        name,
        "--domain",
        &domain,
        "--client-id",
        "0oa-generated",
        "--ca-file",
        &ca,
        "--generate-key",
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_a_generated_key_checks_ok_once_the_printed_key_is_registered() {
    let fx = Fixture::new(EmulatorConfig {
        events: 20,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    let domain = fx.emulator.domain();
    let out = add_generated(&fx, "x").await;
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("paste this JWK") && said.contains("okta-ingest check x"),
        "{said}"
    );

    // The key file: beside the state, named by its kid, private.
    let key_dir = fx.path("keys/x");
    let files: Vec<_> = std::fs::read_dir(&key_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let key_file = &files[0];
    let private = std::fs::read_to_string(key_file).unwrap();
    let info = okta_ingest::PublicKeyInfo::from_private_pem(&private).unwrap();
    assert_eq!(
        key_file.file_name().unwrap().to_string_lossy(),
        format!("{}.pem", info.kid)
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(key_file), 0o600);
        assert_eq!(mode(&key_dir), 0o700);
        assert_eq!(mode(&fx.path("keys")), 0o700);
    }
    assert_private_key_not_in(&said, &private);
    assert!(
        said.contains(&format!("Key ID (kid): {}", info.kid)),
        "{said}"
    );
    let show = fx.cli(&["instance", "show", "x"]).await;
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(
        shown.contains(&info.kid) && shown.contains(&key_file.display().to_string()),
        "{shown}"
    );

    // Register what was printed, as an admin pastes it, with the kid Okta then shows.
    let start = said.find("-----BEGIN PUBLIC KEY-----").expect("a PEM");
    let end =
        said.find("-----END PUBLIC KEY-----").expect("its end") + "-----END PUBLIC KEY-----".len();
    let public_pem = &said[start..end];
    assert_eq!(public_pem.trim(), info.pem.trim());
    let check = fx.cli(&["check", "x"]).await;
    assert!(
        !check.status.success(),
        "not registered yet: {}",
        text(&check)
    );
    fx.emulator.register_client(ClientRegistration {
        kid: Some(info.kid.clone()),
        ..ClientRegistration::logs_reader("0oa-generated", public_pem)
    });
    let check = fx.cli(&["check", "x"]).await;
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("OK"),
        "{}",
        text(&check)
    );

    // An instance that cannot be added leaves no key behind.
    let again = add_generated(&fx, "x").await;
    assert!(!again.status.success(), "{}", text(&again));
    assert_eq!(std::fs::read_dir(&key_dir).unwrap().count(), 1);
    // A name that is no name is refused before a key is written.
    let odd = add_generated(&fx, "../y").await;
    assert!(!odd.status.success());
    assert!(
        String::from_utf8_lossy(&odd.stderr).contains("invalid instance name"),
        "{}",
        text(&odd)
    );
    assert!(!fx.path("y").exists() && !fx.path("keys/y").exists());

    // --generate-key or --private-key: exactly one.
    let both = fx
        .cli(&[
            "instance",
            "add",
            "z",
            "--domain",
            &domain,
            "--client-id",
            "c",
            "--generate-key",
            "--private-key",
            "k.pem",
        ])
        .await;
    assert_eq!(both.status.code(), Some(2), "{}", text(&both));
    let neither = fx
        .cli(&[
            "instance",
            "add",
            "z",
            "--domain",
            &domain,
            "--client-id",
            "c",
        ])
        .await;
    assert_eq!(neither.status.code(), Some(2), "{}", text(&neither));
    assert!(
        String::from_utf8_lossy(&neither.stderr).contains("--private-key"),
        "{}",
        text(&neither)
    );
}
