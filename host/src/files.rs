//! Files the host reads because a user named them (a private key, a CA file, a component) and files it
//! owns (the state, a file sink, cached machine code): bounded reads of regular files only, and private
//! modes (0600 files, 0700 directories) that are created that way and tightened when found looser.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;

/// Reads `path`, which must be a regular file of at most `max` bytes: a device (`/dev/zero`), a FIFO or
/// a directory is refused before it is opened, and a larger file after `max` bytes.
pub(crate) fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    // Non-blocking, so that a FIFO swapped in after the check cannot hang the open; the open file is
    // checked again, since that is what is read.
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file = opts.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.len() > max {
        return Err(too_large(max));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok(buf)
}

fn too_large(max: u64) -> std::io::Error {
    let what = if max >= 1 << 20 {
        format!("{} MiB", max >> 20)
    } else {
        format!("{} KiB", max >> 10)
    };
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("larger than the {what} such a file can be"),
    )
}

/// Creates `dir` and its missing parents with mode 0700 (existing ones are left as they are).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Options that create a file with mode 0600.
pub(crate) fn private_options() -> OpenOptions {
    let mut opts = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// Makes a file the host owns private if others may read or write it, and says so.
pub(crate) fn tighten(file: &File, path: &Path) {
    report_tightened(
        path,
        make_private(file.metadata(), |p| file.set_permissions(p)),
    );
}

/// [`tighten`] by path, for a file this process may hold open elsewhere: SQLite's locks are
/// per process, so opening and closing another descriptor of its files would drop them.
pub(crate) fn tighten_path(path: &Path) {
    report_tightened(
        path,
        make_private(std::fs::metadata(path), |p| {
            std::fs::set_permissions(path, p)
        }),
    );
}

/// The mode a file had, if it was loosened and has been (or failed to be) made private.
type Tightened = Option<(u32, std::io::Result<()>)>;

fn make_private(
    meta: std::io::Result<std::fs::Metadata>,
    set: impl FnOnce(std::fs::Permissions) -> std::io::Result<()>,
) -> Tightened {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = meta.ok()?;
        let mode = meta.permissions().mode() & 0o777;
        if !meta.is_file() || mode & 0o077 == 0 {
            return None;
        }
        Some((mode, set(std::fs::Permissions::from_mode(mode & 0o700))))
    }
    #[cfg(not(unix))]
    {
        let _ = (meta, set);
        None
    }
}

fn report_tightened(path: &Path, tightened: Tightened) {
    match tightened {
        None => {}
        Some((mode, Ok(()))) => tracing::warn!(
            path = %path.display(),
            "the file was open to other users (mode {mode:o}); it is now {:o}",
            mode & 0o700
        ),
        Some((mode, Err(e))) => tracing::warn!(
            path = %path.display(),
            "the file is open to other users (mode {mode:o}) and could not be made private: {e}"
        ),
    }
}

/// Makes SQLite's companion files (`-wal`, `-shm`) private without a word: they take the database's
/// mode, so the database's own message covers them.
pub(crate) fn tighten_path_quietly(path: &Path) {
    if let Some((mode, Err(e))) = make_private(std::fs::metadata(path), |p| {
        std::fs::set_permissions(path, p)
    }) {
        tracing::warn!(path = %path.display(), "the file is open to other users (mode {mode:o}) and could not be made private: {e}");
    }
}

/// True when a file that holds a secret can be read by others (as ssh warns about a private key).
pub(crate) fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// True when `dir` is a directory owned by this process's effective user that no one else may write:
/// only then may the host trust what it finds in it.
pub(crate) fn is_private_dir(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // symlink_metadata: a link planted in place of the directory is not followed.
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            return false;
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        meta.is_dir() && meta.uid() == euid && meta.mode() & 0o022 == 0
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(dir).is_ok_and(|m| m.is_dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_a_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.pem");
        std::fs::write(&f, vec![b'x'; 100]).unwrap();
        assert_eq!(read_regular(&f, 100).unwrap().len(), 100);
        let e = read_regular(&f, 99).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
        assert!(read_regular(Path::new("/dev/zero"), 1 << 20).is_err());
        assert!(read_regular(dir.path(), 1 << 20).is_err());
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            let e = read_regular(&fifo, 1 << 20).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn loose_files_are_tightened_and_loose_dirs_are_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.db");
        std::fs::write(&p, b"").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(readable_by_others(&p));
        tighten(&File::open(&p).unwrap(), &p);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!readable_by_others(&p));

        let private = dir.path().join("a/b");
        create_private_dir(&private).unwrap();
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(is_private_dir(&private));
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(!is_private_dir(&private), "world-writable");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("a"), &link).unwrap();
        assert!(!is_private_dir(&link), "a link is not the directory");
    }
}
