//! Info, Health, Configure, Sync, SyncClock, Reseed and Shutdown.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::{blocking, Agent};
use crate::error::{AgentError, AgentResult};
use crate::process::MAX_CHUNK_BYTES;
use crate::proto::*;
use crate::sys;

/// Version of agent.proto this agent speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Least entropy Reseed accepts, in bytes.
pub const MIN_RESEED_ENTROPY_BYTES: usize = 64;
/// Clock differences below this are left alone, in nanoseconds.
pub const CLOCK_STEP_THRESHOLD_NS: i64 = 1_000_000;
/// Grace between SIGTERM and SIGKILL on Shutdown when the request says 0.
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 2000;
/// Features the host may gate on.
pub const CAPABILITIES: &[&str] = &[
    "exec.pipe",
    "exec.pty",
    "exec.detached",
    "exec.attach",
    "exec.timeout",
    "files",
    "workspace.tar",
    "reseed",
    "clock",
    "stats",
];

pub async fn info(agent: &Agent, _req: InfoRequest) -> AgentResult<InfoResponse> {
    let (arch, kernel_release) = sys::uname();
    let image_version = std::fs::read_to_string(&agent.config.image_version_path).map(|s| s.trim().to_string()).unwrap_or_default();
    Ok(InfoResponse {
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        protocol_version: PROTOCOL_VERSION,
        image_version,
        arch,
        kernel_release,
        capabilities: CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        max_chunk_bytes: MAX_CHUNK_BYTES as u32,
        generation: agent.generation(),
        boot_id: agent.boot_id.clone(),
    })
}

pub async fn health(agent: &Agent, _req: HealthRequest) -> AgentResult<HealthResponse> {
    let cgroup = agent.config.user_cgroup.clone();
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let (user_memory_bytes, oom_kills) = match &cgroup {
        Some(dir) => (
            read(&dir.join("memory.current")).trim().parse().unwrap_or(0),
            field(&read(&dir.join("memory.events")), "oom_kill").unwrap_or(0),
        ),
        None => (0, 0),
    };
    let available_memory_bytes = field(&read(Path::new("/proc/meminfo")), "MemAvailable:").unwrap_or(0) * 1024;
    let load = read(Path::new("/proc/loadavg")).split_whitespace().next().and_then(|l| l.parse::<f64>().ok()).unwrap_or(0.0);
    Ok(HealthResponse {
        uptime_ms: agent.started.elapsed().as_millis() as u64,
        running_processes: agent.registry.running_count() as u32,
        user_memory_bytes,
        available_memory_bytes,
        oom_kills,
        load_average_centi: (load * 100.0).round() as u32,
    })
}

/// The number after `key` on the line that starts with it.
pub(crate) fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        if parts.next()? == key {
            parts.next()?.parse().ok()
        } else {
            None
        }
    })
}

pub async fn configure(agent: &Agent, req: ConfigureRequest) -> AgentResult<ConfigureResponse> {
    if !req.hostname.is_empty() {
        check_hostname(&req.hostname)?;
        if agent.config.system_control {
            sys::sethostname(&req.hostname).map_err(|e| AgentError::io("sethostname", e))?;
        }
    }
    for key in req.env.keys() {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(AgentError::invalid(format!("bad environment variable name {:?}", key)));
        }
    }
    agent.set_default_env(req.env.into_iter().collect::<HashMap<_, _>>());
    if let Some(dir) = &agent.config.user_cgroup {
        let memory = if req.user_memory_limit_mib == 0 { "max".to_string() } else { (req.user_memory_limit_mib as u64 * 1024 * 1024).to_string() };
        let pids = if req.user_pids_limit == 0 { "max".to_string() } else { req.user_pids_limit.to_string() };
        std::fs::write(dir.join("memory.max"), memory).map_err(|e| AgentError::io("memory.max", e))?;
        std::fs::write(dir.join("pids.max"), pids).map_err(|e| AgentError::io("pids.max", e))?;
    }
    let relays = match &req.network {
        Some(network) => {
            crate::init::network::validate(network).map_err(|m| AgentError::invalid(format!("network: {}", m)))?;
            crate::relay::validate(&network.vsock_relays).map_err(|m| AgentError::invalid(format!("network: {}", m)))?
        }
        None => Vec::new(),
    };
    if agent.config.system_control {
        let network = req.network.clone();
        blocking(move || crate::init::network::apply(network.as_ref()).map_err(|e| AgentError::io("network", e))).await?;
    }
    agent.replace_relays(&relays).await.map_err(|e| AgentError::io("network: vsock relay", e))?;
    Ok(ConfigureResponse {})
}

fn check_hostname(name: &str) -> AgentResult<()> {
    let ok = name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(AgentError::invalid(format!("bad hostname {:?}", name)))
    }
}

pub async fn sync(_agent: &Agent, _req: SyncRequest) -> AgentResult<SyncResponse> {
    blocking(|| {
        sys::sync();
        Ok(())
    })
    .await?;
    Ok(SyncResponse {})
}

/// Decides whether to step the clock: only to a host time later than any earlier SyncClock, and
/// only when the difference matters. Returns (step, guest minus host in ns).
pub fn clock_decision(last_host_ns: Option<i64>, guest_ns: i64, host_ns: i64) -> (bool, i64) {
    let offset = guest_ns.saturating_sub(host_ns);
    let newer = last_host_ns.map(|last| host_ns > last).unwrap_or(true);
    (newer && offset.saturating_abs() >= CLOCK_STEP_THRESHOLD_NS, offset)
}

pub async fn sync_clock(agent: &Agent, req: SyncClockRequest) -> AgentResult<SyncClockResponse> {
    if req.host_time_unix_ns <= 0 {
        return Err(AgentError::invalid("host_time_unix_ns must be positive"));
    }
    let mut last = agent.last_clock_sync.lock().unwrap_or_else(|e| e.into_inner());
    let guest_ns = now_unix_ns();
    let (step, offset_ns) = clock_decision(*last, guest_ns, req.host_time_unix_ns);
    let stepped = step && agent.config.system_control;
    if stepped {
        sys::set_realtime_ns(req.host_time_unix_ns).map_err(|e| AgentError::io("clock_settime", e))?;
    }
    if agent.config.system_control && last.map(|l| req.host_time_unix_ns > l).unwrap_or(true) {
        *last = Some(req.host_time_unix_ns);
    }
    Ok(SyncClockResponse { stepped, offset_ns })
}

fn now_unix_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

pub async fn reseed(agent: &Agent, req: ReseedRequest) -> AgentResult<ReseedResponse> {
    if req.entropy.len() < MIN_RESEED_ENTROPY_BYTES {
        return Err(AgentError::invalid(format!("need at least {} bytes of entropy", MIN_RESEED_ENTROPY_BYTES)));
    }
    let system_control = agent.config.system_control;
    let path = agent.config.generation_path.clone();
    let generation = req.generation;
    let entropy = req.entropy;
    blocking(move || {
        let credited = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/urandom")
            .and_then(|random| sys::add_entropy(&random, &entropy));
        if let Err(err) = credited {
            // Outside a VM (tests) the agent may lack CAP_SYS_ADMIN; inside it must work.
            if system_control {
                return Err(AgentError::io("RNDADDENTROPY", err));
            }
            crate::log!("reseed: crediting entropy failed: {}", err);
        }
        write_atomically(&path, format!("{}\n", generation).as_bytes())
    })
    .await?;
    agent.set_generation(generation);
    Ok(ReseedResponse {})
}

fn write_atomically(path: &Path, contents: &[u8]) -> AgentResult<()> {
    let dir = path.parent().ok_or_else(|| AgentError::invalid("generation path has no directory"))?;
    std::fs::create_dir_all(dir).map_err(|e| AgentError::io(format!("mkdir {}", dir.display()), e))?;
    let temp = dir.join(".generation.tmp");
    std::fs::write(&temp, contents).map_err(|e| AgentError::io("write generation", e))?;
    std::fs::rename(&temp, path).map_err(|e| AgentError::io("rename generation", e))
}

pub async fn shutdown(agent: &Agent, req: ShutdownRequest) -> AgentResult<ShutdownResponse> {
    let grace = Duration::from_millis(if req.grace_ms == 0 { DEFAULT_SHUTDOWN_GRACE_MS } else { req.grace_ms as u64 });
    let registry = agent.registry.clone();
    let system_control = agent.config.system_control;
    tokio::spawn(async move {
        // Let the response reach the host before anything stops.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for process in registry.all() {
            let _ = process.signal(libc::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + grace;
        while registry.running_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for process in registry.all() {
            let _ = process.signal(libc::SIGKILL);
        }
        crate::init::power_off(system_control);
    });
    Ok(ShutdownResponse {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_never_goes_back_across_calls() {
        let s = 1_000_000_000i64;
        assert_eq!(clock_decision(None, 100 * s, 105 * s), (true, -5 * s));
        assert_eq!(clock_decision(Some(105 * s), 106 * s, 104 * s), (false, 2 * s));
        assert_eq!(clock_decision(Some(105 * s), 90 * s, 110 * s), (true, -20 * s));
        assert_eq!(clock_decision(Some(105 * s), 110 * s, 110 * s + 10), (false, -10));
    }

    #[test]
    fn meminfo_fields() {
        let text = "MemTotal: 100 kB\nMemAvailable:   42 kB\n";
        assert_eq!(field(text, "MemAvailable:"), Some(42));
        assert_eq!(field("oom 1\noom_kill 3\n", "oom_kill"), Some(3));
    }
}
