//! The gRPC layer: framing, status, and a server on h2.

pub mod codec;
pub mod server;
pub mod status;

pub use server::{serve_connection, CallError, RequestStream, ResponseSink, Service};
pub use status::{Code, Status};
