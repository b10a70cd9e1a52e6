//! Child processes measured with `wait4`: wall time, CPU time (user + sys) and peak RSS of the child.

use anyhow::Context;
use std::process::Command;
use std::time::{Duration, Instant};

/// What a child cost.
#[derive(Debug, Clone)]
pub struct ChildRun {
    /// Exit code (128 + signal when killed).
    pub code: i32,
    /// From just before spawn to reaping.
    pub wall: Duration,
    /// User CPU seconds.
    pub user: f64,
    /// System CPU seconds.
    pub sys: f64,
    /// Peak resident set size, KiB: the highest `VmHWM` of the child's /proc/PID/status, sampled every
    /// 10 ms. (`ru_maxrss` from `wait4` is unusable here: Linux carries the parent's RSS high-water mark
    /// over fork + exec into the child's, so a child of this bench process — which holds the emulator's
    /// events — would report the parent's size.)
    pub maxrss_kib: i64,
    /// `ru_maxrss` as `wait4` reported it, KiB (see above; kept for the record).
    pub ru_maxrss_kib: i64,
}

impl ChildRun {
    /// User + system CPU seconds.
    pub fn cpu(&self) -> f64 {
        self.user + self.sys
    }
}

/// Spawns `cmd` and waits for it with `wait4`, blocking; call through `spawn_blocking`.
pub fn run(mut cmd: Command) -> anyhow::Result<ChildRun> {
    let started = Instant::now();
    let child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            let mut max = 0i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(kib) = std::fs::read_to_string(&path).ok().and_then(|t| vm_hwm(&t)) {
                    max = max.max(kib);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            max
        })
    };
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child, not yet reaped (std's Child never waits on drop); the pointers
        // are to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    let wall = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let hwm = sampler.join().unwrap_or(0);
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        -1
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(ChildRun {
        code,
        wall,
        user: secs(ru.ru_utime),
        sys: secs(ru.ru_stime),
        maxrss_kib: hwm,
        ru_maxrss_kib: ru.ru_maxrss,
    })
}

/// `VmHWM` (peak RSS of the current address space), KiB.
fn vm_hwm(status: &str) -> Option<i64> {
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// `run` on a blocking thread, so the in-process emulator keeps serving on the async workers.
pub async fn run_async(cmd: Command) -> anyhow::Result<ChildRun> {
    tokio::task::spawn_blocking(move || run(cmd))
        .await
        .context("child waiter panicked")?
}

/// CPU seconds (user + sys) this process has used so far (the in-process emulator's share).
pub fn self_cpu() -> f64 {
    // SAFETY: as above.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a local.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// The last lines of a log file, for error messages.
pub fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}
