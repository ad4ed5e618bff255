//! A small gRPC server on h2: one task per call, status in trailers, `grpc-timeout` deadlines,
//! RST_STREAM seen as cancellation, and no panic on anything a peer sends.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures::future::{poll_fn, BoxFuture};
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::{HeaderMap, HeaderValue, Request, Response};
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite};

use super::codec::{self, FrameDecoder};
use super::status::{Code, Status};

/// Largest request message accepted, in bytes (file chunks are 1 MiB; this leaves room).
pub const MAX_RECV_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// HTTP/2 flow-control window per stream, in bytes.
pub const STREAM_WINDOW_BYTES: u32 = 1024 * 1024;
/// HTTP/2 flow-control window per connection, in bytes.
pub const CONNECTION_WINDOW_BYTES: u32 = 8 * 1024 * 1024;
/// Concurrent calls per connection.
pub const MAX_CONCURRENT_STREAMS: u32 = 1024;
/// Largest `grpc-timeout` honoured; longer ones (and nonsense) mean "no deadline".
const MAX_DEADLINE_SECS: u64 = 100 * 365 * 24 * 3600;

/// How a call's stream ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The request was malformed, or a handler decided the call's status.
    Status(Status),
    /// The client reset the stream (RST_STREAM): an explicit cancellation.
    Cancelled,
    /// The connection went away: not a cancellation (the host may come back).
    ConnectionLost,
}

impl From<Status> for CallError {
    fn from(status: Status) -> CallError {
        CallError::Status(status)
    }
}

impl From<crate::error::AgentError> for CallError {
    fn from(err: crate::error::AgentError) -> CallError {
        CallError::Status(err.into())
    }
}

impl From<CallError> for Status {
    fn from(err: CallError) -> Status {
        match err {
            CallError::Status(status) => status,
            CallError::Cancelled => Status::cancelled("cancelled by the client"),
            CallError::ConnectionLost => Status::new(Code::Unavailable, "connection lost"),
        }
    }
}

/// Tells cancellation by the peer from loss of the connection.
pub fn classify(err: &h2::Error) -> CallError {
    if err.is_io() {
        return CallError::ConnectionLost;
    }
    if err.is_go_away() {
        // GOAWAY closes the whole connection: the host is going away, not cancelling this call.
        return CallError::ConnectionLost;
    }
    if err.is_remote() && err.reason().is_some() {
        return reset_reason(err.reason().unwrap_or(Reason::CANCEL));
    }
    CallError::ConnectionLost
}

/// A stream's reset reason as the cause of a call's end. Clients cancel with CANCEL; any other reason is the
/// connection failing under the stream — h2 marks every open stream of a connection that died of a protocol error
/// (a new host's preface arriving mid-session, or a VM restored from a snapshot meeting a new host) as reset with
/// that error's reason. That is connection loss: processes wait for a re-attach instead of being killed.
pub fn reset_reason(reason: Reason) -> CallError {
    if reason == Reason::CANCEL {
        CallError::Cancelled
    } else {
        CallError::ConnectionLost
    }
}

/// A gRPC service: routes a method name to a handler.
pub trait Service: Send + Sync + 'static {
    /// Fully qualified service name, e.g. `kelpie.agent.v1.Agent`.
    fn name(&self) -> &'static str;
    /// Whether `method` exists (unknown ones are answered UNIMPLEMENTED before reading the body).
    fn has_method(&self, method: &str) -> bool;
    /// Runs one call. The handler sends messages on `response`; its result becomes the status.
    fn call<'a>(&'a self, method: &'a str, request: RequestStream, response: &'a mut ResponseSink)
        -> BoxFuture<'a, Result<(), CallError>>;
}

/// Serves one HTTP/2 connection until it closes. Calls run as their own tasks and may outlive it.
pub async fn serve_connection<T>(io: T, service: Arc<dyn Service>) -> Result<(), h2::Error>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut connection = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(64 * 1024)
        .handshake::<_, Bytes>(io)
        .await?;
    while let Some(next) = connection.accept().await {
        let (request, respond) = next?;
        tokio::spawn(handle_call(service.clone(), request, respond));
    }
    Ok(())
}

async fn handle_call(service: Arc<dyn Service>, request: Request<RecvStream>, respond: SendResponse<Bytes>) {
    let (parts, body) = request.into_parts();
    let mut sink = ResponseSink { respond, stream: None };
    let status = match route(&*service, &parts.method, parts.uri.path(), &parts.headers) {
        Err(status) => status,
        Ok(method) => {
            let deadline = parts.headers.get("grpc-timeout").and_then(|v| parse_timeout(v.as_bytes()));
            let request = RequestStream::new(body);
            let call = service.call(&method, request, &mut sink);
            let result = match deadline {
                Some(limit) => with_deadline(limit, call).await,
                None => call.await,
            };
            match result {
                Ok(()) => Status::ok(),
                Err(err) => err.into(),
            }
        }
    };
    sink.finish(&status);
}

async fn with_deadline<F>(limit: Duration, call: F) -> Result<(), CallError>
where
    F: Future<Output = Result<(), CallError>>,
{
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(CallError::Status(Status::deadline_exceeded())),
    }
}

fn route(service: &dyn Service, method: &http::Method, path: &str, headers: &HeaderMap) -> Result<String, Status> {
    if method != http::Method::POST {
        return Err(Status::unimplemented(format!("HTTP method {} is not gRPC", method)));
    }
    let content_type = headers.get(http::header::CONTENT_TYPE).map(|v| v.as_bytes()).unwrap_or(b"");
    if !content_type.starts_with(b"application/grpc") {
        return Err(Status::new(Code::InvalidArgument, "content-type must be application/grpc"));
    }
    if let Some(encoding) = headers.get("grpc-encoding") {
        if encoding.as_bytes() != b"identity" {
            return Err(Status::unimplemented("only identity grpc-encoding is supported"));
        }
    }
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (name, method) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if name != service.name() || !service.has_method(method) {
        return Err(Status::unimplemented(format!("unknown method {}", path)));
    }
    Ok(method.to_string())
}

/// Parses `grpc-timeout`: up to 8 digits and a unit (H, M, S, m, u, n).
pub fn parse_timeout(value: &[u8]) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let duration = match unit[0] {
        b'H' => Duration::from_secs(amount.checked_mul(3600)?),
        b'M' => Duration::from_secs(amount.checked_mul(60)?),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    };
    if duration.as_secs() > MAX_DEADLINE_SECS {
        return None;
    }
    Some(duration)
}

/// The request side of a call: decoded messages, in order.
pub struct RequestStream {
    body: RecvStream,
    decoder: FrameDecoder,
    ended: bool,
}

impl RequestStream {
    fn new(body: RecvStream) -> RequestStream {
        RequestStream { body, decoder: FrameDecoder::new(MAX_RECV_MESSAGE_BYTES), ended: false }
    }

    /// The next message, or `None` once the client half-closed cleanly.
    pub async fn message<M: Message + Default>(&mut self) -> Result<Option<M>, CallError> {
        loop {
            if let Some(payload) = self.decoder.next_frame()? {
                return Ok(Some(codec::decode(payload)?));
            }
            if self.ended {
                self.decoder.finish()?;
                return Ok(None);
            }
            match self.body.data().await {
                None => self.ended = true,
                Some(Ok(chunk)) => {
                    // Releasing as we consume is what bounds our memory: the client can only
                    // send more once we pulled (and decoded) what it sent.
                    let _ = self.body.flow_control().release_capacity(chunk.len());
                    self.decoder.push(&chunk);
                }
                Some(Err(err)) => return Err(classify(&err)),
            }
        }
    }

    /// The single message of a unary or server-streaming call.
    pub async fn single<M: Message + Default>(&mut self) -> Result<M, CallError> {
        match self.message().await? {
            Some(message) => Ok(message),
            None => Err(Status::invalid_argument("request message missing").into()),
        }
    }
}

/// The response side of a call.
pub struct ResponseSink {
    respond: SendResponse<Bytes>,
    stream: Option<SendStream<Bytes>>,
}

impl ResponseSink {
    fn start(&mut self) -> Result<&mut SendStream<Bytes>, CallError> {
        if self.stream.is_none() {
            let response = Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "application/grpc")
                .body(())
                .expect("static response headers");
            let stream = self.respond.send_response(response, false).map_err(|e| classify(&e))?;
            self.stream = Some(stream);
        }
        Ok(self.stream.as_mut().expect("stream set above"))
    }

    /// Sends one message, waiting for flow-control credit: a slow reader slows us down.
    pub async fn send<M: Message>(&mut self, message: &M) -> Result<(), CallError> {
        let mut data = codec::encode(message);
        let stream = self.start()?;
        while !data.is_empty() {
            stream.reserve_capacity(data.len());
            let mut available = stream.capacity();
            while available == 0 {
                // Waiting for credit alone would miss a RST_STREAM from a client that stopped reading and then
                // cancelled: h2 wakes capacity waiters on window updates, not on resets. So wait for either.
                let next = poll_fn(|cx| match stream.poll_reset(cx) {
                    Poll::Ready(reset) => Poll::Ready(Err(reset)),
                    Poll::Pending => stream.poll_capacity(cx).map(Ok),
                })
                .await;
                available = match next {
                    Ok(Some(Ok(n))) => n,
                    Ok(Some(Err(err))) => return Err(classify(&err)),
                    Ok(None) => return Err(reset_or_lost(stream).await),
                    Err(Ok(reason)) => return Err(reset_reason(reason)),
                    Err(Err(err)) => return Err(classify(&err)),
                };
            }
            let chunk = data.split_to(available.min(data.len()));
            stream.send_data(chunk, false).map_err(|e| classify(&e))?;
        }
        Ok(())
    }

    /// Resolves when the client resets the stream or the connection goes away.
    pub async fn closed(&mut self) -> CallError {
        let result = match self.stream.as_mut() {
            Some(stream) => poll_fn(|cx| stream.poll_reset(cx)).await,
            None => {
                let respond = &mut self.respond;
                poll_fn(|cx| respond.poll_reset(cx)).await
            }
        };
        match result {
            Ok(reason) => reset_reason(reason),
            Err(err) => classify(&err),
        }
    }

    /// Ends the call with `status` in trailers (or a trailers-only response when nothing was sent).
    fn finish(&mut self, status: &Status) {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from(status.code as i32));
        if !status.message.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&status.encoded_message()) {
                trailers.insert("grpc-message", value);
            }
        }
        match self.stream.as_mut() {
            Some(stream) => {
                let _ = stream.send_trailers(trailers);
            }
            None => {
                let mut response = Response::builder()
                    .status(200)
                    .header(http::header::CONTENT_TYPE, "application/grpc")
                    .body(())
                    .expect("static response headers");
                response.headers_mut().extend(trailers);
                let _ = self.respond.send_response(response, true);
            }
        }
    }
}

async fn reset_or_lost(stream: &mut SendStream<Bytes>) -> CallError {
    // The stream stopped accepting data; if a reset is recorded, the client cancelled.
    match poll_fn(|cx| Poll::Ready(stream.poll_reset(cx))).await {
        Poll::Ready(Ok(reason)) => reset_reason(reason),
        Poll::Ready(Err(err)) => classify(&err),
        Poll::Pending => CallError::ConnectionLost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout(b"1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse_timeout(b"250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout(b"2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_timeout(b"99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse_timeout(b"123456789S"), None);
        assert_eq!(parse_timeout(b"S"), None);
        assert_eq!(parse_timeout(b"1x"), None);
        assert_eq!(parse_timeout(b"-1S"), None);
    }

    #[test]
    fn only_a_cancel_reset_is_a_cancellation() {
        assert!(matches!(reset_reason(Reason::CANCEL), CallError::Cancelled));
        for lost in [Reason::PROTOCOL_ERROR, Reason::FRAME_SIZE_ERROR, Reason::INTERNAL_ERROR, Reason::NO_ERROR] {
            assert!(matches!(reset_reason(lost), CallError::ConnectionLost), "{lost:?}");
        }
    }
}
