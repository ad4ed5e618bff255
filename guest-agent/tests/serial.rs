//! The virtio-serial transport over a socket pair: garbage before the preface, and a new host
//! session after the old one broke mid-stream.

mod common;

use std::time::Duration;

use common::*;
use kelpie_agent::{Agent, AgentConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

/// Relays one host connection onto the shared "port" until told to stop, then gives the port back.
fn relay(mut port: UnixStream) -> (UnixStream, oneshot::Sender<()>, tokio::task::JoinHandle<UnixStream>) {
    let (client_end, mut relay_end) = UnixStream::pair().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel();
    // Like a VMM's chardev: a host leaving never shuts the port down (no copy_bidirectional,
    // which would propagate the EOF as a shutdown).
    let task = tokio::spawn(async move {
        let mut stop_rx = stop_rx;
        let (mut from_host, mut from_port) = ([0u8; 16384], [0u8; 16384]);
        loop {
            tokio::select! {
                n = relay_end.read(&mut from_host) => match n {
                    Ok(n) if n > 0 => if port.write_all(&from_host[..n]).await.is_err() { break },
                    _ => break,
                },
                n = port.read(&mut from_port) => match n {
                    Ok(n) if n > 0 => if relay_end.write_all(&from_port[..n]).await.is_err() { break },
                    _ => break,
                },
                _ = &mut stop_rx => break,
            }
        }
        port
    });
    (client_end, stop_tx, task)
}

async fn healthy(client: &mut Client) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(2), client.unary::<_, proto::HealthResponse>("Health", &proto::HealthRequest {})).await,
        Ok(Ok(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resync_after_garbage() {
    let dir = temp_dir("serial");
    let config = AgentConfig { workspace_dir: dir.clone(), image_version_path: dir.join("none"), generation_path: dir.join("gen"), ..Default::default() };
    let agent = Agent::new(config);
    let (agent_end, mut port) = UnixStream::pair().unwrap();
    let server = tokio::spawn(kelpie_agent::transport::serve_serial(agent_end, agent.service()));

    // Leftovers from an earlier host, including a partial preface.
    port.write_all(b"\x00\x00\x04\x08\x00junk from the last host PRI * HTTP/2.0\r\n").await.unwrap();
    let (client_end, stop, task) = relay(port);
    let mut client = within(WAIT, Client::over(client_end)).await.expect("handshake after garbage");
    let info: proto::InfoResponse = within(WAIT, client.unary("Info", &proto::InfoRequest {})).await.unwrap();
    assert_eq!(info.protocol_version, 1);

    // The host goes away mid-session without any goodbye; the byte stream stays.
    client.drop_connection();
    let _ = stop.send(());
    let mut port = task.await.unwrap();
    port.write_all(b"\x00\x00\x10\x00\x01half a frame").await.unwrap();

    // The next host retries its handshake with backoff until a session comes up.
    let mut backoff = Duration::from_millis(50);
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts <= 10, "no session after {} attempts", attempts - 1);
        let (client_end, stop, task) = relay(port);
        // An attempt runs as its own task: a handshake broken by leftovers must not fail the test.
        let attempt = tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(2), Client::over(client_end)).await {
                Ok(Ok(mut client)) => {
                    let ok = healthy(&mut client).await;
                    client.drop_connection();
                    ok
                }
                _ => false,
            }
        });
        let connected = attempt.await.unwrap_or(false);
        if connected {
            break;
        }
        let _ = stop.send(());
        port = task.await.unwrap();
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
