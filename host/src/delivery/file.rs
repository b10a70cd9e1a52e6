//! The file sink: appends one event per line and syncs to disk before acknowledging. Exactly once for a
//! regular file: delivery records the offset before each write, and an unacknowledged tail is cut off and
//! rewritten after a crash (or at once after a failed write). A device or FIFO cannot be cut back, so
//! there it is at least once.
//!
//! A regular file has one writer: the sink holds an exclusive advisory lock (`flock`) on it while open,
//! so a second okta-ingest appending to the same file, even from another state, is refused instead of
//! interleaving lines. Readers (`tail -F`) are not affected by the lock. The file is created 0600, and
//! an existing one that others may read is made private (it holds event data).

use super::sink::{lines, Repair, Sink, SinkError};
use crate::state::OutboxEvent;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Appends events to a file (see the module documentation).
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: File,
    regular: bool,
}

impl FileSink {
    /// Opens (creating, mode 0600) the file for appending; refused while another process writes to it.
    pub fn open(path: &Path) -> Result<FileSink, SinkError> {
        let mut opts = crate::files::private_options();
        opts.create(true).read(true).write(true).truncate(false);
        let id = || format!("file:{}", path.display());
        let file = opts.open(path).map_err(|source| SinkError::Io {
            sink: id(),
            action: "opening the file",
            source,
        })?;
        let regular = file
            .metadata()
            .map_err(|source| SinkError::Io {
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
                    return Err(SinkError::Io {
                        sink: id(),
                        action: "locking the file",
                        source,
                    })
                }
            }
            crate::files::tighten(&file, path);
        }
        Ok(FileSink {
            path: path.to_path_buf(),
            file,
            regular,
        })
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
}
