//! gRPC protocol robustness and lifecycle calls against the agent binary.

mod common;

use bytes::Bytes;
use common::*;

#[tokio::test]
async fn malformed_calls_get_statuses_and_the_connection_survives() {
    let agent = AgentProcess::start("proto", &[]).await;
    let mut client = agent.client().await;

    let mut call = client.call("NoSuchMethod").await;
    call.close_send();
    assert_eq!(call.message::<proto::InfoResponse>().await.unwrap_err().code, code::UNIMPLEMENTED);

    let mut call = client.start_raw("/other.Service/Info", &[]).await;
    call.close_send();
    assert_eq!(call.message::<proto::InfoResponse>().await.unwrap_err().code, code::UNIMPLEMENTED);

    // A frame announcing 100 MB: refused from the header alone.
    let mut call = client.call("Info").await;
    call.send_bytes(Bytes::from_static(&[0, 0x06, 0x40, 0, 0, 1, 2, 3]));
    call.close_send();
    assert_eq!(call.message::<proto::InfoResponse>().await.unwrap_err().code, code::RESOURCE_EXHAUSTED);

    // A frame cut short by the end of the stream.
    let mut call = client.call("Info").await;
    call.send_bytes(Bytes::from_static(&[0, 0, 0, 0, 100, 1, 2, 3]));
    call.close_send();
    assert_eq!(call.message::<proto::InfoResponse>().await.unwrap_err().code, code::INTERNAL);

    // Bytes that are not a protobuf message.
    let mut call = client.call("Stat").await;
    call.send_bytes(Bytes::from_static(&[0, 0, 0, 0, 3, 0xff, 0xff, 0xff]));
    call.close_send();
    assert_eq!(call.message::<proto::StatResponse>().await.unwrap_err().code, code::INTERNAL);

    // No message at all for a unary call.
    let mut call = client.call("Info").await;
    call.close_send();
    assert_eq!(call.message::<proto::InfoResponse>().await.unwrap_err().code, code::INVALID_ARGUMENT);

    // Compressed flag without grpc-encoding support.
    let mut call = client.call("Info").await;
    call.send_bytes(Bytes::from_static(&[1, 0, 0, 0, 0]));
    call.close_send();
    assert_eq!(call.message::<proto::InfoResponse>().await.unwrap_err().code, code::UNIMPLEMENTED);

    // Exec whose first message is not start.
    let mut call = client.call("Exec").await;
    call.send(&exec_input(stdin(b"x", 0)));
    call.close_send();
    assert_eq!(call.message::<proto::ExecResponse>().await.unwrap_err().code, code::INVALID_ARGUMENT);

    let health: proto::HealthResponse = client.unary("Health", &proto::HealthRequest {}).await.expect("still healthy");
    assert_eq!(health.running_processes, 0);
}

#[tokio::test]
async fn info_reseed_clock_and_sync() {
    let agent = AgentProcess::start("info", &[]).await;
    let mut client = agent.client().await;
    let info: proto::InfoResponse = client.unary("Info", &proto::InfoRequest {}).await.unwrap();
    assert_eq!(info.protocol_version, 1);
    assert_eq!(info.agent_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.image_version, "1.2.3-20261128-abcdef0");
    assert_eq!(info.max_chunk_bytes, 64 * 1024);
    assert!(info.capabilities.iter().any(|c| c == "exec.pty"));
    assert!(!info.arch.is_empty() && !info.kernel_release.is_empty() && !info.boot_id.is_empty());
    assert_eq!(info.generation, 0);

    let short = proto::ReseedRequest { entropy: vec![1; 10], generation: 5 };
    assert_eq!(client.unary::<_, proto::ReseedResponse>("Reseed", &short).await.unwrap_err().code, code::INVALID_ARGUMENT);
    let reseed = proto::ReseedRequest { entropy: vec![7; 64], generation: 42 };
    client.unary::<_, proto::ReseedResponse>("Reseed", &reseed).await.unwrap();
    assert_eq!(std::fs::read_to_string(agent.dir.join("run/generation")).unwrap().trim(), "42");
    let info: proto::InfoResponse = client.unary("Info", &proto::InfoRequest {}).await.unwrap();
    assert_eq!(info.generation, 42);

    // Outside a VM the agent never touches the host's clock, but reports the offset.
    let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let clock: proto::SyncClockResponse = client.unary("SyncClock", &proto::SyncClockRequest { host_time_unix_ns: now_ns + 3_600_000_000_000 }).await.unwrap();
    assert!(!clock.stepped);
    assert!(clock.offset_ns < -3_500_000_000_000);
    client.unary::<_, proto::SyncResponse>("Sync", &proto::SyncRequest {}).await.unwrap();

    let configure = proto::ConfigureRequest { env: [("KELPIE_TEST".to_string(), "configured".to_string())].into_iter().collect(), ..Default::default() };
    client.unary::<_, proto::ConfigureResponse>("Configure", &configure).await.unwrap();
    let outcome = run(&mut client, start(&["sh", "-c", "echo $KELPIE_TEST"])).await;
    assert_eq!(outcome.stdout, b"configured\n");

    // A network the agent could not set up exactly is refused, before anything changes.
    let network = proto::NetworkConfig { address_cidr: "10.0.2.15".to_string(), ..Default::default() };
    let bad = proto::ConfigureRequest { network: Some(network), ..Default::default() };
    let refused = client.unary::<_, proto::ConfigureResponse>("Configure", &bad).await.unwrap_err();
    assert_eq!(refused.code, code::INVALID_ARGUMENT);
    assert!(refused.message.contains("has no /prefix"), "{}", refused.message);
}
