//! Private files (client keys, the CA key) in a directory the emulator keeps between starts: written
//! 0600 without following links, and read back only when they are still private regular files.

use std::io::Read;
use std::path::Path;

use crate::EmulatorError;

/// Largest private key file read back (a PEM RSA-4096 key is ~3.3 KB).
pub const MAX_KEY_FILE: u64 = 64 * 1024;

/// Writes `text` to a new file at `path` with mode 0600 (it may be a private key). Whatever was at
/// `path` is removed first and never followed: a symbolic link planted there is replaced, not written
/// through.
pub fn write_private_file(path: &Path, text: &str) -> Result<(), EmulatorError> {
    use std::io::Write;
    let err = |source| EmulatorError::File {
        path: path.display().to_string(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let mut opts = std::fs::OpenOptions::new();
    // create_new is O_CREAT|O_EXCL: it fails on anything at `path`, a link included.
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(err)
}

/// Reads a private file written by [`write_private_file`] at an earlier start: `Ok(None)` when there is
/// nothing at `path`. Refuses ([`EmulatorError::Refused`]) a symbolic link (never followed), anything
/// but a regular file (a FIFO, a device, a directory), a file other users can read or write (a key
/// they may have seen or replaced), and a file longer than `max_len` bytes.
pub fn read_private_file(path: &Path, max_len: u64) -> Result<Option<String>, EmulatorError> {
    let refuse = |reason: String| EmulatorError::Refused {
        path: path.display().to_string(),
        reason,
    };
    let read_err = |source| EmulatorError::Read {
        path: path.display().to_string(),
        source,
    };
    // lstat first: a link is refused without being followed, and a FIFO without being opened (an
    // open would block).
    let before = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    if before.file_type().is_symlink() {
        return Err(refuse(
            "it is a symbolic link, and a private key is never read through a link; remove it \
             to have a new key generated"
                .into(),
        ));
    }
    check_private(&before).map_err(refuse)?;
    let file = std::fs::File::open(path).map_err(read_err)?;
    let opened = file.metadata().map_err(read_err)?;
    // What was opened must be what was inspected: not swapped for a link or another file meanwhile.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (opened.dev(), opened.ino()) != (before.dev(), before.ino()) {
            return Err(refuse("it was replaced while being opened".into()));
        }
    }
    check_private(&opened).map_err(refuse)?;
    if opened.len() > max_len {
        return Err(refuse(format!(
            "it is {} bytes, more than the {max_len} a key file can be",
            opened.len()
        )));
    }
    let mut text = String::new();
    file.take(max_len + 1)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > max_len {
        return Err(refuse(format!(
            "it is more than the {max_len} bytes a key file can be"
        )));
    }
    Ok(Some(text))
}

/// A regular file that only its owner can read or write.
fn check_private(meta: &std::fs::Metadata) -> Result<(), String> {
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "other users can read or write it (mode {mode:03o}), so the key in it may be known \
                 or replaced; `chmod 600` it to keep using it, or remove it to have a new one \
                 generated"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh directory under the system temp dir, removed on drop.
    pub(crate) struct TestDir(pub(crate) PathBuf);

    impl TestDir {
        pub(crate) fn new(tag: &str) -> TestDir {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "okta-emulator-{tag}-{}-{}-{nanos}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir(&dir).expect("test dir");
            TestDir(dir)
        }

        pub(crate) fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn refused(r: Result<Option<String>, EmulatorError>) -> String {
        match r {
            Err(e @ EmulatorError::Refused { .. }) => e.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_private_file_reads_back_and_a_missing_one_is_none() {
        let dir = TestDir::new("files");
        let p = dir.path("key.pem");
        assert!(read_private_file(&p, MAX_KEY_FILE).unwrap().is_none());
        write_private_file(&p, "secret").unwrap();
        assert_eq!(
            read_private_file(&p, MAX_KEY_FILE).unwrap().as_deref(),
            Some("secret")
        );
        // Rewriting replaces, whatever was there.
        write_private_file(&p, "other").unwrap();
        assert_eq!(
            read_private_file(&p, MAX_KEY_FILE).unwrap().as_deref(),
            Some("other")
        );
        let e = refused(read_private_file(&p, 3));
        assert!(e.contains("more than the 3"), "{e}");
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = TestDir::new("files");
        std::fs::create_dir(dir.path("sub")).unwrap();
        let e = refused(read_private_file(&dir.path("sub"), MAX_KEY_FILE));
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_or_a_file_others_can_read_is_refused_with_the_reason() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TestDir::new("files");
        let victim = dir.path("victim.pem");
        write_private_file(&victim, "victim").unwrap();
        let link = dir.path("key.pem");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = refused(read_private_file(&link, MAX_KEY_FILE));
        assert!(
            e.starts_with(&format!("refusing to use {}: ", link.display()))
                && e.contains("symbolic link"),
            "{e}"
        );
        // Writing over the link replaces it and leaves its target alone.
        write_private_file(&link, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim");
        assert!(!std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());

        for mode in [0o644, 0o604, 0o640, 0o620, 0o602] {
            std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = refused(read_private_file(&victim, MAX_KEY_FILE));
            assert!(
                e.contains("other users can read or write it")
                    && e.contains(&format!("mode {mode:03o}"))
                    && e.contains("chmod 600"),
                "{e}"
            );
        }
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(
            read_private_file(&victim, MAX_KEY_FILE).unwrap().as_deref(),
            Some("victim")
        );
    }
}
