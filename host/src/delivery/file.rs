//! The file sink: appends one event per line and syncs to disk before acknowledging. Exactly once for a
//! regular file: delivery records the offset before each write, and an unacknowledged tail is cut off and
//! rewritten after a crash (or at once after a failed write). A device or FIFO cannot be cut back, so
//! there it is at least once.
//!
//! A regular file has one writer: the sink holds an exclusive advisory lock (`flock`) on it while open,
//! so a second okta-ingest appending to the same file, even from another state, is refused instead of
//! interleaving lines. Readers (`tail -F`) are not affected by the lock. The file is created 0600 (its
//! missing parent directories 0700, as for the state file), and an existing one that others may read is
//! made private (it holds event data).
//!
//! Log rotation: after [`FileSink::reopen_handle`]'s `request` (the command wires it to `SIGHUP`) the
//! sink opens the path again before its next batch, so `mv events.jsonl events.jsonl.1; kill -HUP`
//! moves delivery to a new file. Reopening happens only between acknowledged batches, so a recorded
//! offset always refers to the file it was taken from.

use super::sink::{lines, Repair, Sink, SinkError};
use crate::state::OutboxEvent;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Appends events to a file (see the module documentation).
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: File,
    regular: bool,
    reopen: Arc<AtomicBool>,
}

/// Asks a [`FileSink`] to open its path again before its next batch (log rotation).
#[derive(Debug, Clone)]
pub struct ReopenHandle(Arc<AtomicBool>);

impl ReopenHandle {
    /// Requests the reopen; cheap, and safe to call from a signal-handling task.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl FileSink {
    /// Opens (creating, mode 0600, and its missing parent directories, 0700) the file for appending;
    /// refused while another process writes to it.
    pub fn open(path: &Path) -> Result<FileSink, SinkError> {
        let (file, regular) = open_file(path)?;
        Ok(FileSink {
            path: path.to_path_buf(),
            file,
            regular,
            reopen: Arc::default(),
        })
    }

    /// A handle that makes the sink reopen its path before the next batch.
    pub fn reopen_handle(&self) -> ReopenHandle {
        ReopenHandle(self.reopen.clone())
    }

    /// Reopens the path if asked to; on failure the request stays, so the next batch tries again.
    fn reopen_if_asked(&mut self) -> Result<(), SinkError> {
        if !self.reopen.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        match open_file(&self.path) {
            Ok((file, regular)) => {
                // The old file's lock goes with its handle.
                self.file = file;
                self.regular = regular;
                tracing::info!(sink = %self.id(), "reopened the file (log rotation)");
                Ok(())
            }
            Err(e) => {
                self.reopen.store(true, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
        move |source| SinkError::Io {
            sink: self.id(),
            action,
            source,
        }
    }

    #[cfg(test)]
    pub(crate) fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }
}

/// Opens `path` for appending as the module documentation describes: the file and whether it is regular.
fn open_file(path: &Path) -> Result<(File, bool), SinkError> {
    let id = || format!("file:{}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            crate::files::create_private_dir(dir).map_err(|source| SinkError::Open {
                sink: id(),
                action: "creating the file's directory",
                source,
            })?;
            tracing::info!(dir = %dir.display(), "created the sink file's directory (mode 0700)");
        }
    }
    let mut opts = crate::files::private_options();
    opts.create(true).read(true).write(true).truncate(false);
    let file = opts.open(path).map_err(|source| SinkError::Open {
        sink: id(),
        action: "opening the file",
        source,
    })?;
    let regular = file
        .metadata()
        .map_err(|source| SinkError::Open {
            sink: id(),
            action: "reading file metadata",
            source,
        })?
        .is_file();
    if regular {
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(SinkError::InUse { sink: id() });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(SinkError::Open {
                    sink: id(),
                    action: "locking the file",
                    source,
                })
            }
        }
        crate::files::tighten(&file, path);
    }
    Ok((file, regular))
}

impl Sink for FileSink {
    fn id(&self) -> String {
        format!("file:{}", self.path.display())
    }
    fn repair(&self) -> Repair {
        if self.regular {
            Repair::Truncate
        } else {
            Repair::None
        }
    }
    fn position(&mut self) -> Result<u64, SinkError> {
        // Before the offset is taken (and recorded) for this batch, never between the two.
        self.reopen_if_asked()?;
        self.file.seek(SeekFrom::End(0)).map_err(self.io("seeking"))
    }
    fn truncate(&mut self, offset: u64) -> Result<(), SinkError> {
        if !self.regular {
            return Ok(());
        }
        let len = self
            .file
            .metadata()
            .map_err(self.io("reading the file size"))?
            .len();
        if offset == len {
            return Ok(()); // nothing was written after the recorded offset
        }
        if offset > len {
            // The file is shorter than when the write began (rotated or truncated by someone else):
            // extending it would insert zeros, so leave it and rewrite the batch at its end.
            tracing::warn!(sink = %self.id(), offset, len, "file shrank since the unacknowledged write; not cutting it");
            return Ok(());
        }
        self.file
            .set_len(offset)
            .map_err(self.io("truncating a torn write"))?;
        self.file.sync_data().map_err(self.io("syncing"))
    }
    fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        if !self.regular {
            // A regular file reopened in `position`, before its offset was recorded.
            self.reopen_if_asked()?;
        }
        let buf = lines(events);
        if self.regular {
            self.file
                .seek(SeekFrom::End(0))
                .map_err(self.io("seeking"))?;
        }
        self.file.write_all(&buf).map_err(self.io("writing"))?;
        if self.regular {
            self.file.sync_data().map_err(self.io("syncing to disk"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_has_one_writer_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl");
        std::fs::write(&out, "").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let first = FileSink::open(&out).unwrap();
        let second = FileSink::open(&out);
        assert!(
            matches!(&second, Err(SinkError::InUse { sink }) if sink.ends_with("out.jsonl")),
            "{second:?}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "made private");
        }
        drop(first);
        assert!(FileSink::open(&out).is_ok(), "the next writer after it");
    }

    #[test]
    fn a_rotated_file_is_left_for_a_new_one_after_a_reopen_request() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("logs/okta/out.jsonl");
        let mut sink = FileSink::open(&out).unwrap();
        let reopen = sink.reopen_handle();
        let ev = |seq: i64| OutboxEvent {
            stream: crate::state::Stream::Whole,
            seq,
            instance_id: 1,
            event_type: "t".into(),
            categories: okta_ingest_model::Categories::AUTHENTICATION,
            raw: format!("{{\"n\":{seq}}}"),
        };
        sink.position().unwrap();
        sink.write(&[ev(1)]).unwrap();
        let rotated = dir.path().join("logs/okta/out.jsonl.1");
        std::fs::rename(&out, &rotated).unwrap();
        sink.position().unwrap();
        sink.write(&[ev(2)]).unwrap();
        assert!(!out.exists(), "no reopen without a request");
        reopen.request();
        assert_eq!(sink.position().unwrap(), 0, "the new file");
        sink.write(&[ev(3)]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&rotated).unwrap(),
            "{\"n\":1}\n{\"n\":2}\n"
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"n\":3}\n");
        assert!(
            matches!(FileSink::open(&out), Err(SinkError::InUse { .. })),
            "the new file is locked"
        );
        assert!(FileSink::open(&rotated).is_ok(), "the old one is released");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("logs"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "created parents are private");
        }
    }
}
