//! Framing for byte-stream transports, sans-IO: the shell pushes whatever
//! a read returned and pulls complete packets.

/// Why a length-prefixed stream must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame declared more bytes than a packet may hold
    /// (`dogstatsd_buffer_size`): the Agent drops the connection.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Declared length.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// A zero-length frame: the Agent's zero-byte read means "closed".
    #[error("zero-length frame")]
    ZeroLength,
    /// The peer closed in the middle of a frame or its header.
    #[error("stream ended inside a frame ({pending} bytes pending)")]
    Truncated {
        /// Bytes received of the unfinished frame, header included.
        pending: usize,
    },
}

/// UDS stream framing: each frame is a 4-byte little-endian length and
/// then exactly that many bytes, which form one packet.
#[derive(Debug, Clone)]
pub struct LengthPrefixedFramer {
    buf: Vec<u8>,
    start: usize,
    max_frame: u32,
    failed: Option<FrameError>,
}

impl LengthPrefixedFramer {
    /// A framer accepting frames of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_frame: u32::try_from(max_frame).unwrap_or(u32::MAX),
            failed: None,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or
    /// the error that must close the connection (and keeps being returned).
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let avail = &self.buf[self.start..];
        let Some(header) = avail.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(*header);
        if len == 0 {
            return Err(*self.failed.insert(FrameError::ZeroLength));
        }
        if len > self.max_frame {
            return Err(*self.failed.insert(FrameError::TooLarge {
                len,
                max: self.max_frame,
            }));
        }
        let total = 4 + len as usize;
        if avail.len() < total {
            return Ok(None);
        }
        let begin = self.start + 4;
        self.start += total;
        Ok(Some(&self.buf[begin..begin + len as usize]))
    }

    /// Call when the peer closed: an unfinished frame is discarded and
    /// reported.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.buf.len() - self.start {
            0 => Ok(()),
            pending => Err(FrameError::Truncated { pending }),
        }
    }

    /// Bytes buffered and not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// Named-pipe framing: a byte stream of `\n`-terminated messages. After
/// each read everything up to the last `\n` is a packet; the remainder
/// waits for the next read. A partial message that fills the whole buffer
/// is discarded (the Agent resets its write index).
///
/// The shell reads straight into [`spare`](Self::spare) and then calls
/// [`commit`](Self::commit), so no byte is copied twice.
#[derive(Debug, Clone)]
pub struct NewlineFramer {
    buf: Box<[u8]>,
    filled: usize,
    /// Bytes `[from, to)` to move to the front before the next read.
    carry: Option<(usize, usize)>,
    discarded: u64,
}

impl NewlineFramer {
    /// A framer with a buffer of `capacity` bytes (`dogstatsd_buffer_size`).
    pub fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity.max(1)].into_boxed_slice(),
            filled: 0,
            carry: None,
            discarded: 0,
        }
    }

    /// Where the next read goes (never empty).
    pub fn spare(&mut self) -> &mut [u8] {
        if let Some((from, to)) = self.carry.take() {
            self.buf.copy_within(from..to, 0);
            self.filled = to - from;
        }
        &mut self.buf[self.filled..]
    }

    /// Records that `n` bytes were read into [`spare`](Self::spare) and
    /// returns the packet of complete messages, if any.
    pub fn commit(&mut self, n: usize) -> Option<&[u8]> {
        let end = (self.filled + n).min(self.buf.len());
        if let Some(last) = self.buf[..end].iter().rposition(|&b| b == b'\n') {
            self.carry = Some((last + 1, end));
            return Some(&self.buf[..=last]);
        }
        self.filled = end;
        if self.filled == self.buf.len() {
            self.filled = 0;
            self.discarded += 1;
        }
        None
    }

    /// Copies `bytes` in as successive reads would, calling `on_packet`
    /// for each packet (for callers that already hold the bytes).
    pub fn push(&mut self, mut bytes: &[u8], mut on_packet: impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            let spare = self.spare();
            let n = spare.len().min(bytes.len());
            spare[..n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if let Some(p) = self.commit(n) {
                on_packet(p);
            }
        }
    }

    /// Partial messages discarded because they filled the buffer.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(p: &[u8]) -> Vec<u8> {
        let mut v = (p.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(p);
        v
    }

    #[test]
    fn frames_split_across_reads() {
        let mut f = LengthPrefixedFramer::new(8192);
        let mut bytes = frame(b"a:1|c");
        bytes.extend(frame(b"b:2|c\nc:3|c"));
        for chunk in bytes.chunks(3) {
            f.push(chunk);
        }
        assert_eq!(f.next_frame(), Ok(Some(&b"a:1|c"[..])));
        assert_eq!(f.next_frame(), Ok(Some(&b"b:2|c\nc:3|c"[..])));
        assert_eq!(f.next_frame(), Ok(None));
        assert_eq!(f.finish(), Ok(()));
    }

    #[test]
    fn partial_header_and_body() {
        let mut f = LengthPrefixedFramer::new(8192);
        f.push(&[5, 0]);
        assert_eq!(f.next_frame(), Ok(None));
        f.push(&[0, 0, b'a', b':']);
        assert_eq!(f.next_frame(), Ok(None));
        assert_eq!(f.finish(), Err(FrameError::Truncated { pending: 6 }));
        f.push(b"1|c");
        assert_eq!(f.next_frame(), Ok(Some(&b"a:1|c"[..])));
    }

    #[test]
    fn oversized_and_zero_frames_close() {
        let mut f = LengthPrefixedFramer::new(8192);
        f.push(&[0x28, 0x23, 0, 0, b'a']);
        assert_eq!(
            f.next_frame(),
            Err(FrameError::TooLarge {
                len: 9000,
                max: 8192
            })
        );
        assert!(f.next_frame().is_err());
        let mut f = LengthPrefixedFramer::new(8192);
        f.push(&frame(b"x:1|c"));
        f.push(&[0, 0, 0, 0]);
        f.push(&frame(b"y:1|c"));
        assert_eq!(f.next_frame(), Ok(Some(&b"x:1|c"[..])));
        assert_eq!(f.next_frame(), Err(FrameError::ZeroLength));
    }

    #[test]
    fn many_frames_compact_the_buffer() {
        let mut f = LengthPrefixedFramer::new(64);
        for i in 0..10_000u32 {
            f.push(&frame(format!("m:{i}|c").as_bytes()));
            let got = f.next_frame().unwrap().unwrap().to_vec();
            assert_eq!(got, format!("m:{i}|c").as_bytes());
        }
        assert!(f.buf.capacity() < 1024);
    }

    fn pushed(f: &mut NewlineFramer, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        f.push(bytes, |p| out.push(p.to_vec()));
        out
    }

    #[test]
    fn newline_framer_keeps_partial_messages() {
        let mut f = NewlineFramer::new(64);
        assert_eq!(pushed(&mut f, b"a:1|c\nb:"), [b"a:1|c\n".to_vec()]);
        assert!(pushed(&mut f, b"2|c").is_empty());
        assert_eq!(pushed(&mut f, b"\n"), [b"b:2|c\n".to_vec()]);
        assert_eq!(f.discarded(), 0);
    }

    #[test]
    fn newline_framer_discards_overlong_partial() {
        let mut f = NewlineFramer::new(8);
        assert!(pushed(&mut f, b"0123456789abc").is_empty());
        assert_eq!(f.discarded(), 1);
        assert_eq!(
            pushed(&mut f, b"\nx:1|c\n"),
            [b"89abc\n".to_vec(), b"x:1|c\n".to_vec()]
        );
    }
}
