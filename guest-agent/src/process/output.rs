//! Per-stream output buffer: keeps the most recent bytes for replay after a reconnect, and tells
//! the pipe reader when to stop reading so a slow host throttles the process instead of our memory.

/// Bytes of output kept per stream for replay (Attach) and buffered while no host reads.
pub const OUTPUT_RING_BYTES: usize = 1024 * 1024;
/// Bytes the reader may run ahead of the last byte handed to a host stream. Kept below
/// `OUTPUT_RING_BYTES` so bytes already sent (possibly lost in flight with a dropped connection)
/// stay replayable.
pub const MAX_UNSENT_OUTPUT_BYTES: usize = 512 * 1024;

/// A byte ring addressed by absolute stream offsets.
#[derive(Debug)]
pub struct OutputRing {
    data: Vec<u8>,
    capacity_bytes: usize,
    /// Index in `data` of the oldest kept byte.
    head: usize,
    len: usize,
    /// Absolute offset of the oldest kept byte.
    start_offset: u64,
    /// Offset up to which a host stream took the bytes (for backpressure).
    sent_offset: u64,
    eof: bool,
}

impl OutputRing {
    pub fn new(capacity_bytes: usize) -> OutputRing {
        OutputRing {
            data: Vec::new(),
            capacity_bytes,
            head: 0,
            len: 0,
            start_offset: 0,
            sent_offset: 0,
            eof: false,
        }
    }

    pub fn start_offset(&self) -> u64 {
        self.start_offset
    }

    pub fn end_offset(&self) -> u64 {
        self.start_offset + self.len as u64
    }

    pub fn sent_offset(&self) -> u64 {
        self.sent_offset
    }

    pub fn is_eof(&self) -> bool {
        self.eof
    }

    pub fn set_eof(&mut self) {
        self.eof = true;
    }

    /// Bytes the reader may append now without overtaking an attentive host by more than the
    /// unsent limit. `overwrite` (nobody will read it soon) lets the ring drop its oldest bytes.
    pub fn writable_bytes(&self, overwrite: bool) -> usize {
        if overwrite {
            return self.capacity_bytes;
        }
        let unsent = self.end_offset().saturating_sub(self.sent_offset) as usize;
        MAX_UNSENT_OUTPUT_BYTES.min(self.capacity_bytes).saturating_sub(unsent)
    }

    /// Appends bytes, dropping the oldest ones beyond capacity.
    pub fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let bytes = if bytes.len() > self.capacity_bytes {
            let skipped = bytes.len() - self.capacity_bytes;
            self.drop_front(self.len);
            self.start_offset += skipped as u64;
            &bytes[skipped..]
        } else {
            bytes
        };
        let overflow = (self.len + bytes.len()).saturating_sub(self.capacity_bytes);
        self.drop_front(overflow);
        // Grow lazily: most processes print little, and a thousand idle rings must stay cheap.
        if self.data.len() < self.capacity_bytes && self.len + bytes.len() > self.data.len() {
            self.linearize();
            let wanted = (self.len + bytes.len()).next_power_of_two().min(self.capacity_bytes);
            self.data.resize(wanted, 0);
        }
        let cap = self.data.len();
        let mut tail = (self.head + self.len) % cap;
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = rest.len().min(cap - tail);
            self.data[tail..tail + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            tail = (tail + n) % cap;
            self.len += n;
        }
        if self.sent_offset < self.start_offset {
            self.sent_offset = self.start_offset;
        }
    }

    /// Copies up to `max_bytes` starting at `offset` (clamped to the oldest kept byte).
    /// Returns the offset actually used and the bytes.
    pub fn read_from(&self, offset: u64, max_bytes: usize) -> (u64, Vec<u8>) {
        let offset = offset.max(self.start_offset);
        if offset >= self.end_offset() {
            return (offset, Vec::new());
        }
        let skip = (offset - self.start_offset) as usize;
        let n = (self.len - skip).min(max_bytes);
        let cap = self.data.len();
        let mut out = Vec::with_capacity(n);
        let first = (self.head + skip) % cap;
        let first_len = n.min(cap - first);
        out.extend_from_slice(&self.data[first..first + first_len]);
        out.extend_from_slice(&self.data[..n - first_len]);
        (offset, out)
    }

    /// Records that a host stream took bytes up to `offset`.
    pub fn mark_sent(&mut self, offset: u64) {
        if offset > self.sent_offset {
            self.sent_offset = offset.min(self.end_offset());
        }
    }

    /// Drops all but the newest `max_bytes` and gives the memory of the rest back: what a finished
    /// process keeps for a late Attach.
    pub fn keep_tail(&mut self, max_bytes: usize) {
        self.drop_front(self.len.saturating_sub(max_bytes));
        self.linearize();
        self.head = 0;
        self.data.truncate(self.len);
        self.data.shrink_to_fit();
        if self.sent_offset < self.start_offset {
            self.sent_offset = self.start_offset;
        }
    }

    /// Bytes of memory the ring holds.
    pub fn memory_bytes(&self) -> usize {
        self.data.capacity()
    }

    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        self.head = (self.head + n) % self.data.len().max(1);
        self.len -= n;
        self.start_offset += n as u64;
    }

    fn linearize(&mut self) {
        if self.head != 0 && !self.data.is_empty() {
            self.data.rotate_left(self.head);
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_latest_bytes_with_offsets() {
        let mut ring = OutputRing::new(8);
        ring.push(b"abcdef");
        ring.push(b"ghij");
        assert_eq!(ring.start_offset(), 2);
        assert_eq!(ring.end_offset(), 10);
        assert_eq!(ring.read_from(0, 100), (2, b"cdefghij".to_vec()));
        assert_eq!(ring.read_from(7, 2), (7, b"hi".to_vec()));
        assert_eq!(ring.read_from(10, 2), (10, Vec::new()));
    }

    #[test]
    fn push_larger_than_capacity_keeps_tail() {
        let mut ring = OutputRing::new(4);
        ring.push(b"0123456789");
        assert_eq!(ring.read_from(0, 100), (6, b"6789".to_vec()));
        ring.push(b"ab");
        assert_eq!(ring.read_from(0, 100), (8, b"89ab".to_vec()));
    }

    #[test]
    fn backpressure_follows_sent_offset() {
        let mut ring = OutputRing::new(OUTPUT_RING_BYTES);
        assert_eq!(ring.writable_bytes(false), MAX_UNSENT_OUTPUT_BYTES);
        ring.push(&vec![1u8; MAX_UNSENT_OUTPUT_BYTES]);
        assert_eq!(ring.writable_bytes(false), 0);
        assert_eq!(ring.writable_bytes(true), OUTPUT_RING_BYTES);
        ring.mark_sent(1000);
        assert_eq!(ring.writable_bytes(false), 1000);
    }

    #[test]
    fn keep_tail_keeps_offsets_and_frees_the_rest() {
        let mut ring = OutputRing::new(8);
        ring.push(b"abcdef");
        ring.push(b"ghij"); // wrapped: holds cdefghij
        ring.keep_tail(3);
        assert_eq!(ring.read_from(0, 100), (7, b"hij".to_vec()));
        assert_eq!(ring.end_offset(), 10);
        assert!(ring.memory_bytes() < 8, "{}", ring.memory_bytes());
        ring.keep_tail(0);
        assert_eq!(ring.read_from(0, 100), (10, Vec::new()));
    }

    #[test]
    fn wraps_many_times_in_order() {
        let mut ring = OutputRing::new(1000);
        let mut next = 0u32;
        let mut read = 0u64;
        for round in 0..500 {
            let chunk: Vec<u8> = (0..(round % 97 + 1)).map(|_| { next += 1; (next % 251) as u8 }).collect();
            ring.push(&chunk);
            let (at, bytes) = ring.read_from(read, 10_000);
            assert_eq!(at, read);
            for (i, b) in bytes.iter().enumerate() {
                assert_eq!(*b as u64, (read + i as u64 + 1) % 251);
            }
            read += bytes.len() as u64;
            ring.mark_sent(read);
        }
    }
}
