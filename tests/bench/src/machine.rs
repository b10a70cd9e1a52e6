//! The machine the figures were measured on.

/// Cores, memory, CPU model, OS and the date.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `std::thread::available_parallelism`.
    pub cores: usize,
    /// MemTotal from /proc/meminfo, MiB.
    pub mem_mib: u64,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Kernel.
    pub os: String,
    /// UTC, ISO 8601.
    pub date: String,
    /// /proc/loadavg at the start (other work on the machine skews every figure).
    pub load: String,
}

impl Machine {
    /// Reads /proc; unknown values say so.
    pub fn detect() -> Machine {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let mem_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb / 1024);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let os = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| format!("Linux {}", r.trim()))
            .unwrap_or_else(|_| std::env::consts::OS.to_string());
        Machine {
            cores,
            mem_mib,
            cpu,
            os,
            date: okta_ingest_model::time::format_ms(super::setup::now_ms()),
            load: load(),
        }
    }
}

/// The 1/5/15-minute load averages.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
