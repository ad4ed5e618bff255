//! kelpie-agent: the guest side of Kelpie. Serves `kelpie.agent.v1.Agent` over gRPC (HTTP/2) on
//! vsock, a virtio-serial port or a Unix socket.
#![deny(unsafe_code)]

#[macro_use]
mod log;

pub mod config;
pub mod error;
pub mod fs;
pub mod grpc;
pub mod init;
pub mod process;
pub mod relay;
pub mod rpc;
#[allow(unsafe_code)]
pub mod sys;
pub mod transport;

/// Messages generated from proto/kelpie/agent/v1/agent.proto.
#[allow(clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/kelpie.agent.v1.rs"));
}

use std::sync::Arc;

pub use config::AgentConfig;
pub use rpc::Agent;

/// Starts the reaper and every listener; returns when all listeners have failed.
pub async fn run(config: AgentConfig) -> std::io::Result<()> {
    if let Err(err) = sys::set_child_subreaper() {
        log!("PR_SET_CHILD_SUBREAPER: {}", err);
    }
    let listen = config.listen.clone();
    let agent = Agent::new(config);
    agent.reaper.start()?;
    let service = agent.service();
    let mut tasks = Vec::new();
    for addr in listen {
        let service: Arc<dyn grpc::Service> = service.clone();
        log!("listening on {}", addr);
        tasks.push(tokio::spawn(async move {
            if let Err(err) = transport::listen(addr.clone(), service).await {
                log!("listener {} failed: {}", addr, err);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    Err(std::io::Error::new(std::io::ErrorKind::Other, "no listener is running"))
}
