//! End-to-end tests: the real `okta-ingest` binary and its embedded connector component against the
//! Okta emulator, over real HTTPS on loopback with a generated CA. One test binary, the `okta-ingest`
//! package's (`host/cli`), so `CARGO_BIN_EXE_okta-ingest` is the binary under test.

mod python;
mod receiver;
mod support;

mod admin;
mod backfill;
mod browser;
mod budget;
mod chaos;
mod cli_validation;
mod components;
mod console;
mod crash;
mod diagnostics;
mod dpop;
mod edge_cases;
mod elasticsearch;
mod embed;
mod exclusions;
mod faults;
mod fleet;
mod hostile;
mod keygen;
mod newcomer;
mod operations;
mod operator_mistakes;
mod packaging;
mod pause;
mod redaction;
mod rotation;
mod s3;
mod sdk_compat;
mod setup_wizard;
mod splunk_hec;
mod stopping;
mod swap;
mod syslog;
mod webhook;
