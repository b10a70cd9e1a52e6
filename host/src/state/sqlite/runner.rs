//! The state's one runner: an exclusive advisory lock (`flock`) on `STATE.lock` beside the state file,
//! which the holder fills with its pid and start time so a refused process can name it. The kernel
//! releases the lock when the holder exits, however it exits (a SIGKILL too), so it never goes stale.

use crate::state::{RunnerLock, StateError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// `state.db` -> `state.db.lock`.
pub(crate) fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock, or says who has it.
pub(crate) fn claim(state: &Path) -> Result<RunnerLock, StateError> {
    let path = lock_path(state);
    let open_err = |e: std::io::Error| StateError::Open {
        path: path.display().to_string(),
        source: Box::new(e),
    };
    let mut file = crate::files::private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(open_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(StateError::InUse {
                path: state.display().to_string(),
                holder: if holder.is_empty() {
                    "a process that has not said who it is yet".into()
                } else {
                    holder.to_string()
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(open_err(e)),
    }
    let since = okta_ingest_model::time::format_s(okta_ingest_model::time::now_ms());
    let who = format!("pid {} since {since}", std::process::id());
    // Best effort: the lock is what counts, the text only names the holder.
    let _ = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(who.as_bytes()))
        .and_then(|_| file.flush());
    Ok(RunnerLock::new(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runner_at_a_time_and_the_next_one_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.db");
        let first = claim(&state).unwrap();
        let e = claim(&state).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, StateError::InUse { .. }), "{msg}");
        assert!(
            msg.contains(&format!("pid {} since ", std::process::id())),
            "names the holder: {msg}"
        );
        drop(first);
        assert!(claim(&state).is_ok(), "released with the claim");
        assert_eq!(lock_path(&state), dir.path().join("s.db.lock"));
    }
}
