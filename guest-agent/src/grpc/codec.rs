//! gRPC length-prefixed message framing: 1 byte compressed flag, 4 bytes big-endian length, payload.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;

use super::status::{Code, Status};

/// Size of the gRPC message prefix in bytes.
pub const FRAME_HEADER_BYTES: usize = 5;

/// Encodes one message as a gRPC frame.
pub fn encode<M: Message>(message: &M) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(FRAME_HEADER_BYTES + len);
    buf.put_u8(0);
    buf.put_u32(len as u32);
    // Encoding into a buffer with enough capacity cannot fail.
    message.encode(&mut buf).expect("buffer sized by encoded_len");
    buf.freeze()
}

/// Reassembles gRPC frames from arbitrarily split DATA chunks.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_message_bytes: usize,
}

impl FrameDecoder {
    pub fn new(max_message_bytes: usize) -> FrameDecoder {
        FrameDecoder { buf: BytesMut::new(), max_message_bytes }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes received but not yet returned as a complete frame.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The next complete payload, if one is buffered. Oversized and compressed frames are errors
    /// as soon as their header is seen, so a hostile length never makes us buffer it.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, Status> {
        if self.buf.len() < FRAME_HEADER_BYTES {
            return Ok(None);
        }
        let compressed = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        match compressed {
            0 => {}
            1 => return Err(Status::unimplemented("compressed messages are not supported")),
            other => return Err(Status::internal(format!("invalid compressed flag {}", other))),
        }
        if len > self.max_message_bytes {
            return Err(Status::resource_exhausted(format!(
                "message of {} bytes exceeds the limit of {} bytes",
                len, self.max_message_bytes
            )));
        }
        if self.buf.len() < FRAME_HEADER_BYTES + len {
            return Ok(None);
        }
        self.buf.advance(FRAME_HEADER_BYTES);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Called at end of stream: leftover bytes mean the last frame was cut.
    pub fn finish(&self) -> Result<(), Status> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Status::new(Code::Internal, format!("stream ended inside a message ({} bytes left)", self.buf.len())))
        }
    }
}

/// Decodes a payload into a message; a decode error is the caller's malformed input.
pub fn decode<M: Message + Default>(payload: Bytes) -> Result<M, Status> {
    M::decode(payload).map_err(|e| Status::internal(format!("malformed message: {}", e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassembles_split_frames() {
        let frame = encode(&"hello".to_string());
        let mut decoder = FrameDecoder::new(1024);
        for byte in frame.iter() {
            assert!(decoder.next_frame().unwrap().is_none());
            decoder.push(&[*byte]);
        }
        let payload = decoder.next_frame().unwrap().unwrap();
        assert_eq!(decode::<String>(payload).unwrap(), "hello");
        assert!(decoder.finish().is_ok());
    }

    #[test]
    fn oversized_header_rejected_before_payload() {
        let mut decoder = FrameDecoder::new(16);
        decoder.push(&[0, 0, 0, 1, 0]);
        assert_eq!(decoder.next_frame().unwrap_err().code, Code::ResourceExhausted);
    }

    #[test]
    fn truncated_frame_reported_at_finish() {
        let mut decoder = FrameDecoder::new(16);
        decoder.push(&[0, 0, 0, 0, 4, 1]);
        assert!(decoder.next_frame().unwrap().is_none());
        assert_eq!(decoder.finish().unwrap_err().code, Code::Internal);
    }

    #[test]
    fn compressed_flag_rejected() {
        let mut decoder = FrameDecoder::new(16);
        decoder.push(&[1, 0, 0, 0, 0]);
        assert_eq!(decoder.next_frame().unwrap_err().code, Code::Unimplemented);
    }
}
