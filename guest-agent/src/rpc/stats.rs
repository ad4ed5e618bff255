//! Stats: the guest's resource use as its kernel reports it, for the host's per-sandbox stats.

use std::path::Path;

use super::{blocking, Agent};
use crate::error::AgentResult;
use crate::proto::*;

/// Memory figures of /proc/meminfo, in bytes (the file counts kB).
#[derive(Debug, Default, PartialEq)]
pub struct MemInfo {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

/// Parses /proc/meminfo; a missing line reads as 0.
pub fn parse_meminfo(text: &str) -> MemInfo {
    let kib = |key: &str| super::lifecycle::field(text, key).unwrap_or(0).saturating_mul(1024);
    MemInfo { total_bytes: kib("MemTotal:"), available_bytes: kib("MemAvailable:") }
}

/// The 1, 5 and 15 minute load averages of /proc/loadavg ("0.52 0.58 0.59 2/123 4567").
pub fn parse_loadavg(text: &str) -> Option<(f64, f64, f64)> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some((fields.next()??, fields.next()??, fields.next()??))
}

/// Processes in the guest: the numeric entries of /proc.
fn process_count(proc_dir: &Path) -> u32 {
    std::fs::read_dir(proc_dir)
        .map(|entries| {
            entries.filter_map(|e| e.ok()).filter(|e| e.file_name().to_str().map(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).unwrap_or(false)).count() as u32
        })
        .unwrap_or(0)
}

/// (total, used, available) bytes of the file system holding `path`; zeros when it cannot be read.
fn filesystem(path: &Path) -> (u64, u64, u64) {
    match nix::sys::statvfs::statvfs(path) {
        Ok(s) => {
            let fragment = s.fragment_size() as u64;
            let total = (s.blocks() as u64).saturating_mul(fragment);
            let free = (s.blocks_free() as u64).saturating_mul(fragment);
            let available = (s.blocks_available() as u64).saturating_mul(fragment);
            (total, total.saturating_sub(free), available)
        }
        Err(_) => (0, 0, 0),
    }
}

pub async fn stats(agent: &Agent, _req: StatsRequest) -> AgentResult<StatsResponse> {
    let workspace = agent.config.workspace_dir.clone();
    let supervised_processes = agent.registry.running_count() as u32;
    // statvfs may wait on a busy disk: off the async workers, which Health needs free.
    blocking(move || {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let memory = parse_meminfo(&read("/proc/meminfo"));
        let (load_1m, load_5m, load_15m) = parse_loadavg(&read("/proc/loadavg")).unwrap_or((0.0, 0.0, 0.0));
        let (fs_total, fs_used, fs_available) = filesystem(&workspace);
        Ok(StatsResponse {
            memory_total_bytes: memory.total_bytes,
            memory_available_bytes: memory.available_bytes,
            load_average_1m: load_1m,
            load_average_5m: load_5m,
            load_average_15m: load_15m,
            filesystem_total_bytes: fs_total,
            filesystem_used_bytes: fs_used,
            filesystem_available_bytes: fs_available,
            process_count: process_count(Path::new("/proc")),
            supervised_processes,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from a 256 MiB test guest.
    const MEMINFO: &str = "MemTotal:         241560 kB\nMemFree:          180204 kB\nMemAvailable:     196872 kB\nBuffers:            2100 kB\nCached:            24508 kB\nSwapCached:            0 kB\n";

    #[test]
    fn meminfo_in_bytes() {
        assert_eq!(parse_meminfo(MEMINFO), MemInfo { total_bytes: 241_560 * 1024, available_bytes: 196_872 * 1024 });
    }

    #[test]
    fn meminfo_without_available_reads_zero() {
        assert_eq!(parse_meminfo("MemTotal: 100 kB\n"), MemInfo { total_bytes: 102_400, available_bytes: 0 });
        assert_eq!(parse_meminfo(""), MemInfo::default());
    }

    #[test]
    fn loadavg_three_averages() {
        assert_eq!(parse_loadavg("0.52 1.05 10.00 2/123 4567\n"), Some((0.52, 1.05, 10.0)));
    }

    #[test]
    fn loadavg_malformed_is_none() {
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("0.5 x 1.0 1/1 1"), None);
        assert_eq!(parse_loadavg("0.5 0.6"), None);
    }

    #[test]
    fn process_count_reads_numeric_entries() {
        let dir = std::env::temp_dir().join(format!("kelpie-stats-proc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for name in ["1", "42", "self", "meminfo", "7x"] {
            std::fs::create_dir_all(dir.join(name)).unwrap();
        }
        assert_eq!(process_count(&dir), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
