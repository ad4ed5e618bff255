//! The Agent service: routes each method to its handler in `process`, `fs`, `workspace` or
//! `lifecycle`.

pub mod fs;
pub mod lifecycle;
pub mod process;
pub mod stats;
pub mod workspace;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::BoxFuture;
use prost::Message;

use crate::config::AgentConfig;
use crate::error::{AgentError, AgentResult};
use crate::grpc::{CallError, RequestStream, ResponseSink, Service};
use crate::process::reaper::Reaper;
use crate::process::spawn::SpawnSettings;
use crate::process::Registry;

/// Fully qualified gRPC service name.
pub const SERVICE_NAME: &str = "kelpie.agent.v1.Agent";

const METHODS: &[&str] = &[
    "Info", "Health", "Stats", "Configure", "Exec", "Attach", "ListProcesses", "Signal", "ReadFile", "WriteFile", "Stat", "ListDir",
    "MakeDir", "Remove", "ExportWorkspace", "ImportWorkspace", "Sync", "SyncClock", "Reseed", "Shutdown",
];

/// State shared by all calls on all connections.
pub struct Agent {
    pub config: AgentConfig,
    pub registry: Arc<Registry>,
    pub reaper: Arc<Reaper>,
    pub boot_id: String,
    pub started: Instant,
    default_env: Mutex<HashMap<String, String>>,
    generation: AtomicU64,
    pub(crate) last_clock_sync: Mutex<Option<i64>>,
    /// The vsock relays Configure started last (see `relay`).
    relays: tokio::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Agent {
    pub fn new(config: AgentConfig) -> Arc<Agent> {
        let reaper = Reaper::new();
        let settings = SpawnSettings {
            workspace_dir: config.workspace_dir.clone(),
            passwd_path: config.passwd_path.clone(),
            group_path: config.group_path.clone(),
            user_cgroup: config.user_cgroup.clone(),
        };
        let registry = Registry::new(reaper.clone(), settings, config.reattach_grace, config.retention);
        let generation = std::fs::read_to_string(&config.generation_path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        Arc::new(Agent {
            config,
            registry,
            reaper,
            boot_id: boot_id(),
            started: Instant::now(),
            default_env: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(generation),
            last_clock_sync: Mutex::new(None),
            relays: tokio::sync::Mutex::new(Vec::new()),
        })
    }

    pub fn default_env(&self) -> HashMap<String, String> {
        self.default_env.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_default_env(&self, env: HashMap<String, String>) {
        *self.default_env.lock().unwrap_or_else(|e| e.into_inner()) = env;
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    fn set_generation(&self, generation: u64) {
        self.generation.store(generation, Ordering::Relaxed);
    }

    /// Stops the running relays (waiting until their listeners are closed, so their addresses can be
    /// bound again) and starts `relays` instead.
    pub(crate) async fn replace_relays(&self, relays: &[crate::relay::Relay]) -> std::io::Result<()> {
        let mut running = self.relays.lock().await;
        for task in running.drain(..) {
            task.abort();
            let _ = task.await;
        }
        *running = crate::relay::start(relays, self.config.vsock_stand_in.as_ref(), self.config.system_control).await?;
        Ok(())
    }

    /// The gRPC service over this agent.
    pub fn service(self: &Arc<Self>) -> Arc<dyn Service> {
        Arc::new(AgentService(self.clone()))
    }
}

fn boot_id() -> String {
    // The kernel draws a fresh one at every boot: exactly the meaning Info promises.
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_else(|_| {
        let mut bytes = [0u8; 16];
        let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
        crate::fs::hex(&bytes)
    })
}

/// Runs blocking file-system work on tokio's blocking pool.
pub async fn blocking<T, F>(work: F) -> AgentResult<T>
where
    F: FnOnce() -> AgentResult<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(|_| AgentError::Internal("blocking task failed".into()))?
}

struct AgentService(Arc<Agent>);

/// One request message in, one response message out.
async fn unary<Req, Resp, Fut>(mut request: RequestStream, sink: &mut ResponseSink, handler: impl FnOnce(Req) -> Fut) -> Result<(), CallError>
where
    Req: Message + Default,
    Resp: Message,
    Fut: Future<Output = AgentResult<Resp>>,
{
    let message = request.single::<Req>().await?;
    let response = handler(message).await?;
    sink.send(&response).await
}

/// A client stream in, one response message out.
async fn client_streaming<Resp, Fut>(sink: &mut ResponseSink, handler: Fut) -> Result<(), CallError>
where
    Resp: Message,
    Fut: Future<Output = Result<Resp, CallError>>,
{
    let response = handler.await?;
    sink.send(&response).await
}

impl Service for AgentService {
    fn name(&self) -> &'static str {
        SERVICE_NAME
    }

    fn has_method(&self, method: &str) -> bool {
        METHODS.contains(&method)
    }

    fn call<'a>(&'a self, method: &'a str, request: RequestStream, sink: &'a mut ResponseSink) -> BoxFuture<'a, Result<(), CallError>> {
        let agent = &*self.0;
        Box::pin(async move {
            match method {
                "Info" => unary(request, sink, |r| lifecycle::info(agent, r)).await,
                "Health" => unary(request, sink, |r| lifecycle::health(agent, r)).await,
                "Stats" => unary(request, sink, |r| stats::stats(agent, r)).await,
                "Configure" => unary(request, sink, |r| lifecycle::configure(agent, r)).await,
                "Sync" => unary(request, sink, |r| lifecycle::sync(agent, r)).await,
                "SyncClock" => unary(request, sink, |r| lifecycle::sync_clock(agent, r)).await,
                "Reseed" => unary(request, sink, |r| lifecycle::reseed(agent, r)).await,
                "Shutdown" => unary(request, sink, |r| lifecycle::shutdown(agent, r)).await,
                "Exec" => process::exec(agent, request, sink).await,
                "Attach" => process::attach(agent, request, sink).await,
                "ListProcesses" => unary(request, sink, |r| process::list(agent, r)).await,
                "Signal" => unary(request, sink, |r| process::signal(agent, r)).await,
                "ReadFile" => fs::read_file(agent, request, sink).await,
                "WriteFile" => {
                    let response = fs::write_file(agent, request, sink).await;
                    client_streaming(sink, async { response }).await
                }
                "Stat" => unary(request, sink, |r| fs::stat(agent, r)).await,
                "ListDir" => unary(request, sink, |r| fs::list_dir(agent, r)).await,
                "MakeDir" => unary(request, sink, |r| fs::make_dir(agent, r)).await,
                "Remove" => unary(request, sink, |r| fs::remove(agent, r)).await,
                "ExportWorkspace" => workspace::export(agent, request, sink).await,
                "ImportWorkspace" => {
                    let response = workspace::import(agent, request, sink).await;
                    client_streaming(sink, async { response }).await
                }
                _ => Err(crate::grpc::Status::unimplemented(format!("unknown method {}", method)).into()),
            }
        })
    }
}
