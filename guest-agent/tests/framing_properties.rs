//! Property tests of the agent's gRPC framing: whatever bytes a peer sends, in whatever pieces, the frame decoder
//! and the HTTP/2 server neither panic nor buffer past their limits, and the pieces never change the result.
//!
//! Each property runs 256 random cases (proptest's default); `PROPTEST_CASES=100000` runs a longer search (see the
//! README's Fuzzing section). A failing case is shrunk, printed and its seed saved in
//! `tests/framing_properties.regressions`, which every later run replays first: commit that file with the fix.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use kelpie_agent::grpc::codec::{self, FrameDecoder, FRAME_HEADER_BYTES};
use kelpie_agent::grpc::server::{parse_timeout, MAX_RECV_MESSAGE_BYTES};
use kelpie_agent::grpc::{serve_connection, CallError, Code, RequestStream, ResponseSink, Service, Status};
use kelpie_agent::proto;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What feeding a decoder produced: the payloads in order, then the error that stopped it or the end-of-stream
/// verdict.
#[derive(Debug, PartialEq)]
struct Decoded {
    payloads: Vec<Bytes>,
    outcome: Result<(), Status>,
}

/// Feeds `chunks` as the server does (push one, take every complete frame), checking after each drain that what
/// stays buffered is less than one frame of the largest allowed size.
fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, max_message_bytes: usize) -> Decoded {
    let mut decoder = FrameDecoder::new(max_message_bytes);
    let mut payloads = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(payload)) => {
                    assert!(payload.len() <= max_message_bytes, "a payload of {} bytes passed", payload.len());
                    payloads.push(payload);
                }
                Ok(None) => break,
                Err(status) => return Decoded { payloads, outcome: Err(status) },
            }
        }
        assert!(
            decoder.pending_bytes() < FRAME_HEADER_BYTES + max_message_bytes,
            "{} bytes buffered with a limit of {}",
            decoder.pending_bytes(),
            max_message_bytes
        );
    }
    Decoded { payloads, outcome: decoder.finish() }
}

/// Cuts `bytes` where `cuts` say (each an offset into it; repeats make empty chunks).
fn split_at<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut offsets: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
    offsets.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for offset in offsets {
        chunks.push(&bytes[start..offset]);
        start = offset;
    }
    chunks.push(&bytes[start..]);
    chunks
}

proptest! {
    // The default config (which reads PROPTEST_CASES), with failing seeds kept beside this file.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_in_any_pieces_decode_like_the_whole_within_the_limit(
        bytes in vec(any::<u8>(), 0..2048),
        cuts in vec(any::<usize>(), 0..16),
        max_message_bytes in 0usize..512,
    ) {
        let whole = decode_chunks([&bytes[..]], max_message_bytes);
        let pieces = decode_chunks(split_at(&bytes, &cuts), max_message_bytes);
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn a_length_beyond_the_limit_is_refused_from_the_header_alone(
        max_message_bytes in 0usize..4096,
        excess in 1u64..=u32::MAX as u64,
        payload_start in vec(any::<u8>(), 0..64),
    ) {
        let len = (max_message_bytes as u64 + excess).min(u32::MAX as u64);
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(len as u32).to_be_bytes());
        frame.extend_from_slice(&payload_start);
        let decoded = decode_chunks([&frame[..]], max_message_bytes);
        prop_assert_eq!(decoded.outcome.map_err(|s| s.code), Err(Code::ResourceExhausted));
    }

    #[test]
    fn encoded_messages_decode_to_themselves_however_they_are_cut(
        messages in vec(vec(any::<u8>(), 0..300), 0..8),
        cuts in vec(any::<usize>(), 0..24),
    ) {
        let mut stream = BytesMut::new();
        for message in &messages {
            stream.put(codec::encode(message));
        }
        let decoded = decode_chunks(split_at(&stream, &cuts), MAX_RECV_MESSAGE_BYTES);
        prop_assert_eq!(&decoded.outcome, &Ok(()));
        let back: Vec<Vec<u8>> = decoded.payloads.into_iter().map(|p| codec::decode::<Vec<u8>>(p).unwrap()).collect();
        prop_assert_eq!(back, messages);
    }

    #[test]
    fn any_payload_decodes_as_a_request_or_is_an_internal_error(payload in vec(any::<u8>(), 0..512)) {
        let payload = Bytes::from(payload);
        check_decodes_or_internal::<proto::ExecRequest>(&payload)?;
        check_decodes_or_internal::<proto::AttachRequest>(&payload)?;
        check_decodes_or_internal::<proto::WriteFileRequest>(&payload)?;
        check_decodes_or_internal::<proto::ImportWorkspaceRequest>(&payload)?;
        check_decodes_or_internal::<proto::ConfigureRequest>(&payload)?;
    }

    #[test]
    fn any_grpc_timeout_parses_to_at_most_a_century_or_to_none(value in vec(any::<u8>(), 0..12)) {
        if let Some(limit) = parse_timeout(&value) {
            prop_assert!(limit <= Duration::from_secs(100 * 365 * 24 * 3600), "{:?}", limit);
        }
    }

    #[test]
    fn a_well_formed_grpc_timeout_means_what_it_says(amount in 0u64..100_000_000, unit in 0usize..6) {
        let (letter, expected) = [
            (b'H', Duration::from_secs(amount * 3600)),
            (b'M', Duration::from_secs(amount * 60)),
            (b'S', Duration::from_secs(amount)),
            (b'm', Duration::from_millis(amount)),
            (b'u', Duration::from_micros(amount)),
            (b'n', Duration::from_nanos(amount)),
        ][unit];
        let mut value = amount.to_string().into_bytes();
        value.push(letter);
        let parsed = parse_timeout(&value);
        if expected <= Duration::from_secs(100 * 365 * 24 * 3600) {
            prop_assert_eq!(parsed, Some(expected));
        } else {
            prop_assert_eq!(parsed, None);
        }
    }

    #[test]
    fn any_http2_session_ends_without_a_panic_or_a_stuck_call(
        actions in vec(action(), 0..12),
        garbage in proptest::option::weighted(0.2, vec(any::<u8>(), 1..32)),
    ) {
        run_session(&actions, garbage.as_deref());
    }
}

fn check_decodes_or_internal<M: prost::Message + Default>(payload: &Bytes) -> Result<(), TestCaseError> {
    if let Err(status) = codec::decode::<M>(payload.clone()) {
        prop_assert_eq!(status.code, Code::Internal);
    }
    Ok(())
}

// ---- HTTP/2 sessions -------------------------------------------------------------------------------------------

const SERVICE_NAME: &str = "kelpie.test.Echo";
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_DATA: u8 = 0x0;
const FRAME_HEADERS: u8 = 0x1;
const FRAME_RST_STREAM: u8 = 0x3;
const FRAME_SETTINGS: u8 = 0x4;
const FRAME_PING: u8 = 0x6;
const FLAG_ACK: u8 = 0x1;
const PING_PAYLOAD: &[u8] = b"kelpie!!";
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
/// Room for a whole session in the in-memory pipe, so the client never waits for the server to read.
const PIPE_BYTES: usize = 1024 * 1024;
/// A session is a few kilobytes in memory; this only bounds a broken one on a loaded machine.
const SESSION_DEADLINE: Duration = Duration::from_secs(30);

/// One thing a client does on the connection. Streams are numbered by the order their headers go out.
#[derive(Debug, Clone)]
enum Action {
    /// HEADERS for a new call: path, optional grpc-timeout value, and whether it also ends the stream.
    Call { path: String, timeout: Option<Vec<u8>>, end_stream: bool },
    /// DATA on the `stream`th call (modulo the calls opened so far): gRPC frames or anything else.
    Data { stream: usize, bytes: Vec<u8>, end_stream: bool },
    /// RST_STREAM with an arbitrary error code.
    Reset { stream: usize, reason: u32 },
}

fn action() -> impl Strategy<Value = Action> {
    let path = prop_oneof![
        Just(format!("/{}/Echo", SERVICE_NAME)),
        Just(format!("/{}/Missing", SERVICE_NAME)),
        Just("/other.Service/Echo".to_string()),
        "/[a-zA-Z./]{0,20}",
    ];
    // Well-formed ones and nonsense; both as visible ASCII, which is all a header value may hold.
    let timeout = prop_oneof!["[0-9]{1,9}[HMSmun]", "[!-~]{0,10}"].prop_map(String::into_bytes);
    let grpc_frames = vec(vec(any::<u8>(), 0..64), 0..4).prop_map(|messages| {
        let mut bytes = Vec::new();
        for message in &messages {
            bytes.extend_from_slice(&codec::encode(message));
        }
        bytes
    });
    prop_oneof![
        3 => (path, proptest::option::of(timeout), any::<bool>())
            .prop_map(|(path, timeout, end_stream)| Action::Call { path, timeout, end_stream }),
        3 => (any::<usize>(), prop_oneof![grpc_frames, vec(any::<u8>(), 0..64)], any::<bool>())
            .prop_map(|(stream, bytes, end_stream)| Action::Data { stream, bytes, end_stream }),
        1 => (any::<usize>(), any::<u32>()).prop_map(|(stream, reason)| Action::Reset { stream, reason }),
    ]
}

/// The bytes a client sends: the preface, empty SETTINGS, each action as frames, `garbage` (which, as it is
/// probably no frame at all, ends the connection there), then a PING.
fn session_bytes(actions: &[Action], garbage: Option<&[u8]>) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    put_frame(&mut out, FRAME_SETTINGS, 0, 0, &[]);
    // Every stream opened so far, and whether the client may still send on it.
    let mut streams: Vec<(u32, bool)> = Vec::new();
    for action in actions {
        match action {
            Action::Call { path, timeout, end_stream } => {
                let id = 1 + 2 * streams.len() as u32;
                streams.push((id, !end_stream));
                let mut block = Vec::new();
                block.push(0x83); // :method POST (static table 3)
                block.push(0x86); // :scheme http (static table 6)
                put_literal(&mut block, b":authority", b"agent");
                put_literal(&mut block, b":path", path.as_bytes());
                put_literal(&mut block, b"content-type", b"application/grpc");
                if let Some(value) = timeout {
                    put_literal(&mut block, b"grpc-timeout", value);
                }
                let flags = FLAG_END_HEADERS | if *end_stream { FLAG_END_STREAM } else { 0 };
                put_frame(&mut out, FRAME_HEADERS, flags, id, &block);
            }
            // A frame on a stream never opened, or one the client ended, ends the whole connection (as the
            // garbage does); these go to streams still open, so that a session reaches the calls.
            Action::Data { stream, bytes, end_stream } => {
                if let Some(open) = pick_open(&mut streams, *stream) {
                    put_frame(&mut out, FRAME_DATA, if *end_stream { FLAG_END_STREAM } else { 0 }, open.0, bytes);
                    open.1 = !end_stream;
                }
            }
            Action::Reset { stream, reason } => {
                if let Some(open) = pick_open(&mut streams, *stream) {
                    put_frame(&mut out, FRAME_RST_STREAM, 0, open.0, &reason.to_be_bytes());
                    open.1 = false;
                }
            }
        }
    }
    if let Some(bytes) = garbage {
        out.extend_from_slice(bytes);
    }
    put_frame(&mut out, FRAME_PING, 0, 0, PING_PAYLOAD);
    out
}

fn pick_open(streams: &mut [(u32, bool)], index: usize) -> Option<&mut (u32, bool)> {
    let open = streams.iter().filter(|(_, open)| *open).count();
    if open == 0 {
        return None;
    }
    streams.iter_mut().filter(|(_, open)| *open).nth(index % open)
}

/// Reads the server's frames until the acknowledgement of the session's closing PING, or the end of the stream.
async fn read_until_ping_ack<R: tokio::io::AsyncRead + Unpin>(from_server: &mut R) -> std::io::Result<()> {
    loop {
        let mut header = [0u8; 9];
        from_server.read_exact(&mut header).await?;
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let mut payload = vec![0u8; len];
        from_server.read_exact(&mut payload).await?;
        if header[3] == FRAME_PING && header[4] & FLAG_ACK != 0 && payload == PING_PAYLOAD {
            return Ok(());
        }
    }
}

fn put_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK literal header field without indexing, new name, no Huffman coding (strings under 127 bytes).
fn put_literal(block: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    block.push(0x00);
    block.push(name.len() as u8);
    block.extend_from_slice(name);
    block.push(value.len() as u8);
    block.extend_from_slice(value);
}

/// Echoes every request message back; counts calls begun and ended, so a test can wait for all of them.
struct EchoService {
    begun: Arc<AtomicUsize>,
    ended: Arc<AtomicUsize>,
}

/// Counts a call as ended however its future finishes: returned, dropped or unwound.
struct EndGuard(Arc<AtomicUsize>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Service for EchoService {
    fn name(&self) -> &'static str {
        SERVICE_NAME
    }

    fn has_method(&self, method: &str) -> bool {
        method == "Echo"
    }

    fn call<'a>(&'a self, _method: &'a str, mut request: RequestStream, response: &'a mut ResponseSink)
        -> BoxFuture<'a, Result<(), CallError>> {
        self.begun.fetch_add(1, Ordering::SeqCst);
        let guard = EndGuard(self.ended.clone());
        Box::pin(async move {
            let _guard = guard;
            while let Some(message) = request.message::<Vec<u8>>().await? {
                response.send(&message).await?;
            }
            Ok(())
        })
    }
}

thread_local! {
    static PANICS_ON_THIS_THREAD: Cell<usize> = Cell::new(0);
}

/// Counts panics per thread, so a panic inside a spawned call (which tokio would swallow) still fails the session
/// that caused it: sessions run on a current-thread runtime, so their tasks run on the test's own thread.
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS_ON_THIS_THREAD.with(|count| count.set(count.get() + 1));
            previous(info);
        }));
    });
}

/// Sends the session's bytes, half-closes the client side, and requires the server to end and every call to finish.
fn run_session(actions: &[Action], garbage: Option<&[u8]>) {
    count_panics();
    let panics_before = PANICS_ON_THIS_THREAD.with(Cell::get);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let begun = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let service = Arc::new(EchoService { begun: begun.clone(), ended: ended.clone() });
    let bytes = session_bytes(actions, garbage);
    runtime.block_on(async {
        let (client, server) = tokio::io::duplex(PIPE_BYTES);
        let (mut from_server, mut to_server) = tokio::io::split(client);
        to_server.write_all(&bytes).await.expect("the pipe holds a whole session");
        // h2 drops requests not yet accepted when it reads the end of the stream, so the client half-closes only
        // once the server has answered the closing PING, that is, has read every frame before it. After garbage
        // there may be no answer to wait for: bytes like [0, 1] read as the start of a frame header that swallows
        // the PING and leaves the server waiting for the rest of a frame (as it should), so the client half-closes
        // at once, and the server must end on the cut frame.
        let waits_for_ping = garbage.is_none();
        let client = tokio::spawn(async move {
            if waits_for_ping {
                let _ = read_until_ping_ack(&mut from_server).await;
            }
            let _ = to_server.shutdown().await;
            let _ = tokio::io::copy(&mut from_server, &mut tokio::io::sink()).await;
        });
        let ended_in_time = tokio::time::timeout(SESSION_DEADLINE, async {
            let _ = serve_connection(server, service).await;
            while ended.load(Ordering::SeqCst) < begun.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
        })
        .await;
        let _ = client.await;
        assert!(
            ended_in_time.is_ok(),
            "the session did not end within {:?}: {} of {} calls finished",
            SESSION_DEADLINE,
            ended.load(Ordering::SeqCst),
            begun.load(Ordering::SeqCst)
        );
    });
    let panics = PANICS_ON_THIS_THREAD.with(Cell::get) - panics_before;
    assert_eq!(panics, 0, "the server panicked on this session");
}
