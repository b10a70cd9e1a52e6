//! The syslog sink: RFC 5424 messages over TLS (RFC 5425, octet-counting framing), for SIEMs that only
//! listen to syslog. Each event is one message whose MSG is the event byte for byte (see [`message`]).
//!
//! Syslog has no acknowledgement, and a TCP write only means the bytes reached this machine's kernel.
//! So every part of a batch (at most [`SyslogOptions::batch_events`] / `batch_bytes`) goes over a
//! connection of its own, which the sink then closes (TLS `close_notify`, then the TCP write side) and
//! waits for the receiver to close too: a receiver closes only after reading everything before the
//! close, so that is the part's acknowledgement. A receiver that resets the connection instead (it
//! closed with bytes unread), or does not close within the timeout, leaves the part unacknowledged,
//! and it is sent again.
//!
//! Delivery is therefore **at least once**: a part cut off midway is sent again whole, so the messages
//! the receiver read before the cut appear twice. Parts acknowledged in this process are never sent
//! again by it. Every message carries the event's `uuid` in its structured data, which a SIEM can
//! de-duplicate by. What the receiver does after reading (its queue, its disk) is its own guarantee.
//!
//! Failures: certificate and TLS protocol errors are permanent (the sink pauses for a minute, as the
//! HTTPS sinks do); everything else (connect, reset, timeouts) is retried with back-off and jitter.

mod message;
mod options;

pub use options::{SyslogOptions, FACILITIES as SYSLOG_FACILITIES};

use super::https::config_error;
use super::https::retry::{Attempt, Retrier};
use super::sink::{Repair, Sink, SinkError, SinkSetting, SinkStop};
use crate::state::{OutboxEvent, Stream};
use message::Header;
use rustls::pki_types::ServerName;
use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;

/// The port RFC 5425 assigns to syslog over TLS.
pub const DEFAULT_PORT: u16 = 6514;

/// The form `--sink` takes, for error messages.
const FORM: &str = "the syslog destination must be syslog+tls://HOST[:PORT] (port 6514 by default)";

/// Sends events as RFC 5424 messages over TLS (see the module documentation).
pub struct SyslogSink {
    id: String,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
    header: Header,
    opts: SyslogOptions,
    /// Parts (stream, first, last) the receiver acknowledged in this process whose rows may not be
    /// acknowledged in the outbox yet: never sent twice by this process.
    delivered: HashSet<(Stream, i64, i64)>,
    /// Retries, back-off and the pause after a permanent failure.
    retrier: Retrier,
}

impl std::fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSink")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SyslogSink {
    /// `url`: `syslog+tls://HOST[:PORT]`. Checks the header fields and reads the CA file; no connection
    /// is made here.
    pub fn open(url: &str, opts: SyslogOptions) -> Result<SyslogSink, SinkError> {
        let bad = |reason: String| config_error("syslog", SinkSetting::Destination, reason);
        let rest = url.strip_prefix("syslog+tls://").ok_or_else(|| {
            bad(format!(
                "{FORM}, not {url:?} (plain TCP is not offered: RFC 5425 makes TLS the transport)"
            ))
        })?;
        let parsed = reqwest::Url::parse(&format!("tls://{rest}"))
            .map_err(|e| bad(format!("{FORM}: {url:?}: {e}")))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad(format!("{FORM}: {url:?} names no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !(parsed.path().is_empty() || parsed.path() == "/")
            || parsed.query().is_some()
            || !parsed.username().is_empty()
        {
            return Err(bad(format!(
                "{FORM}: {url:?} has a path, query or user, which syslog has no use for"
            )));
        }
        let port = parsed.port().unwrap_or(DEFAULT_PORT);
        let id = if host.contains(':') {
            format!("syslog:tls://[{host}]:{port}")
        } else {
            format!("syslog:tls://{host}:{port}")
        };
        let server_name = ServerName::try_from(host.clone()).map_err(|e| {
            bad(format!(
                "{FORM}: {host:?} is not a host name or address: {e}"
            ))
        })?;
        let identity = match &opts.client_certificate {
            None => None,
            Some((cert, key)) => Some(
                crate::outbound::ClientIdentity::load(cert, key)
                    .map_err(|e| config_error(&id, SinkSetting::ClientCertificate, e))?,
            ),
        };
        let setting = if identity.is_some() {
            SinkSetting::ClientCertificate
        } else {
            SinkSetting::CaFile
        };
        let tls = crate::outbound::rustls_client_config(opts.ca_file.as_deref(), identity)
            .map_err(|e| config_error(&id, setting, e))?;
        let hostname = opts
            .hostname
            .clone()
            .unwrap_or_else(crate::machine::hostname);
        let header = Header::new(&opts.facility, &hostname, &opts.app_name, &opts.sd_id)
            .map_err(|e| config_error(&id, SinkSetting::Message, e))?;
        Ok(SyslogSink {
            retrier: Retrier::new(&id, "syslog", opts.retries, opts.retry_base),
            id,
            host,
            port,
            server_name,
            tls: Arc::new(tls),
            header,
            opts,
            delivered: HashSet::new(),
        })
    }

    /// One connection: connect, handshake, write `bytes`, close, wait for the receiver's close
    /// (`Delivered` means the receiver closed it).
    fn attempt(&self, bytes: &[u8]) -> Attempt {
        let timeout = self.opts.timeout;
        let addrs = match (self.host.as_str(), self.port).to_socket_addrs() {
            Ok(a) => a.collect::<Vec<_>>(),
            Err(e) => return retry(format!("cannot resolve {}: {e}", self.host)),
        };
        let mut last = format!("{} resolves to no address", self.host);
        let mut sock = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) => last = format!("could not connect to {addr}: {e}"),
            }
        }
        let Some(sock) = sock else {
            return retry(last);
        };
        if let Err(e) = sock
            .set_read_timeout(Some(timeout))
            .and_then(|()| sock.set_write_timeout(Some(timeout)))
        {
            return retry(format!("setting socket timeouts: {e}"));
        }
        let conn = match rustls::ClientConnection::new(self.tls.clone(), self.server_name.clone()) {
            Ok(c) => c,
            Err(e) => return Attempt::Permanent(format!("TLS: {e}")),
        };
        let mut tls = rustls::StreamOwned::new(conn, sock);
        if let Err(e) = tls.write_all(bytes).and_then(|()| tls.flush()) {
            return io_failure("sending", &e);
        }
        tls.conn.send_close_notify();
        while tls.conn.wants_write() {
            if let Err(e) = tls.conn.write_tls(&mut tls.sock) {
                return io_failure("closing", &e);
            }
        }
        // The receiver sees the end of the stream; some only close once the TCP side ends too.
        let _ = tls.sock.shutdown(Shutdown::Write);
        let mut buf = [0u8; 4096];
        loop {
            match tls.read(&mut buf) {
                // A receiver may say something (syslog receivers do not); keep reading to its close.
                Ok(n) if n > 0 => continue,
                Ok(_) => return Attempt::Delivered,
                // Closed without its own close_notify, as rsyslog does: everything before ours was read.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Attempt::Delivered,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return retry(format!(
                        "the receiver did not close the connection within {timeout:?} after the batch, so whether it read all of it is not known"
                    ))
                }
                Err(e) => return io_failure("waiting for the receiver to close", &e),
            }
        }
    }

    /// Sends one part, retrying transient failures.
    fn send(&mut self, bytes: &[u8], first: i64) -> Result<(), SinkError> {
        let mut retries = 0;
        loop {
            let outcome = self.attempt(bytes);
            if self.retrier.after(outcome, &mut retries, first)? {
                return Ok(());
            }
        }
    }
}

/// A retryable failure (syslog receivers name no time to wait).
fn retry(reason: String) -> Attempt {
    Attempt::Retry {
        reason,
        retry_after: None,
    }
}

/// Classifies an I/O failure: a TLS error (certificate, protocol) is permanent, anything else is not.
fn io_failure(what: &str, e: &std::io::Error) -> Attempt {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => Attempt::Permanent(format!(
            "TLS: the receiver's certificate is not trusted ({c:?}); trust its CA with the sink's CA file"
        )),
        Some(t) => Attempt::Permanent(format!("TLS {what}: {t}")),
        None => retry(format!("{what}: {e}")),
    }
}

impl Sink for SyslogSink {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn repair(&self) -> Repair {
        Repair::None
    }
    fn batch_hint(&self) -> Option<usize> {
        Some(self.opts.batch_events.max(1))
    }
    fn watch_stop(&mut self, stop: SinkStop) {
        self.retrier.watch_stop(stop);
    }
    fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        self.retrier.check_paused()?;
        let frames: Vec<Vec<u8>> = events
            .iter()
            .map(|e| message::frame(e, &self.header))
            .collect();
        for range in super::batches::split(&frames, self.opts.batch_events, self.opts.batch_bytes) {
            let rows = &events[range.clone()];
            let part = (rows[0].stream, rows[0].seq, rows[rows.len() - 1].seq);
            if self.delivered.contains(&part) {
                continue;
            }
            self.send(&frames[range].concat(), part.1)?;
            self.delivered.insert(part);
        }
        if self.delivered.len() >= 4096 {
            self.delivered.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_is_checked_and_named_without_surprises() {
        let open = |u: &str| SyslogSink::open(u, SyslogOptions::default());
        assert_eq!(
            open("syslog+tls://siem.example.com").unwrap().id(),
            "syslog:tls://siem.example.com:6514"
        );
        assert_eq!(
            open("syslog+tls://127.0.0.1:10514").unwrap().id(),
            "syslog:tls://127.0.0.1:10514"
        );
        assert_eq!(
            open("syslog+tls://[::1]:7000").unwrap().id(),
            "syslog:tls://[::1]:7000"
        );
        for (url, says) in [
            ("syslog://siem:514", "plain TCP"),
            ("syslog+tls://", "no host"),
            ("syslog+tls://siem:6514/x", "path"),
            ("syslog+tls://user@siem", "user"),
        ] {
            let e = open(url).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
        }
        let e = SyslogSink::open(
            "syslog+tls://siem",
            SyslogOptions {
                facility: "nope".into(),
                ..SyslogOptions::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                SinkError::Config {
                    setting: SinkSetting::Message,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn nothing_listening_is_retried_then_fails_with_the_events_queued() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut sink = SyslogSink::open(
            &format!("syslog+tls://127.0.0.1:{port}"),
            SyslogOptions {
                retries: 1,
                retry_base: std::time::Duration::from_millis(1),
                ..SyslogOptions::default()
            },
        )
        .unwrap();
        let event = OutboxEvent {
            stream: Stream::Whole,
            seq: 1,
            instance_id: 1,
            event_type: "t".into(),
            categories: Default::default(),
            raw: "{}".into(),
        };
        let e = sink.write(&[event]).unwrap_err().to_string();
        assert!(
            e.contains("could not connect") && e.contains("2 attempts") && e.contains("queued"),
            "{e}"
        );
    }
}
