//! Traffic capture: what the listeners receive, with timing, in a compact
//! file that `dogstatsd replay` sends into a daemon again (or feeds
//! through core offline), so a production problem can be reproduced.
//!
//! The recorder ([`Capture`]) is fed by the listeners through a bounded
//! channel; when capture is off the listener pays one relaxed atomic
//! load per datagram or frame. This module holds the file format.
//!
//! # File format (version 1)
//!
//! All integers little-endian.
//!
//! ```text
//! header (16 bytes, never compressed)
//!   magic      6 bytes  "DSDCAP"
//!   version    u8       1
//!   flags      u8       bit 0: the record stream is one zstd stream
//!   started    u64      unix time the capture started, nanoseconds
//! records, back to back (inside the zstd stream when flagged)
//!   len        u32      payload length
//!   time       u64      unix time the listener received it, nanoseconds
//!   transport  u8       0 udp, 1 uds (datagram), 2 uds stream, 3 named pipe, 4 other
//!   has        u8       bit 0: pid follows, bit 1: container id follows
//!   [pid       u32]
//!   [clen      u16, container id: clen bytes of UTF-8]
//!   payload    len bytes: one UDP/UDS datagram, or one stream frame
//!              (without its length prefix), or one named-pipe read
//! ```
//!
//! A capture cut short (the daemon was killed) ends in a partial record
//! or an unfinished zstd stream; [`Reader`] returns every complete record
//! before it and then [`CaptureError::Truncated`]. The writer flushes the
//! zstd stream at least once a second so little is lost that way.

pub mod recorder;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::Arc;

use dogstatsd_core::protocol::Transport;

pub use recorder::{Capture, CaptureSettings, CaptureStatus, StartError};

/// First bytes of every capture file.
pub const MAGIC: &[u8; 6] = b"DSDCAP";
/// The format version this build writes and reads.
pub const VERSION: u8 = 1;
/// Header flag: records are zstd-compressed.
pub const FLAG_ZSTD: u8 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 16;

const HAS_PID: u8 = 1;
const HAS_CONTAINER: u8 = 2;

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the listener received it, unix nanoseconds.
    pub time_ns: u64,
    /// The listener it came in on.
    pub transport: Transport,
    /// Sender's process id (Unix datagrams with origin detection).
    pub pid: Option<u32>,
    /// Sender's container id, when origin detection resolved one.
    pub container: Option<Arc<str>>,
    /// The bytes as received.
    pub payload: Vec<u8>,
}

/// Why a capture file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// I/O failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Not a capture file.
    #[error("not a dogstatsd capture file (bad magic)")]
    BadMagic,
    /// A version this build does not know.
    #[error("capture format version {0} is not supported (this build reads version {VERSION})")]
    Version(u8),
    /// The file ends inside a record (capture cut short).
    #[error("the capture ends in the middle of a record (cut short?)")]
    Truncated,
    /// A record is malformed.
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
}

/// The wire code of a transport.
pub fn transport_code(t: Transport) -> u8 {
    match t {
        Transport::Udp => 0,
        Transport::UnixDatagram => 1,
        Transport::UnixStream => 2,
        Transport::NamedPipe => 3,
        _ => 4,
    }
}

/// The transport of a wire code (unknown codes read as `Push`).
pub fn transport_of(code: u8) -> Transport {
    match code {
        0 => Transport::Udp,
        1 => Transport::UnixDatagram,
        2 => Transport::UnixStream,
        3 => Transport::NamedPipe,
        _ => Transport::Push,
    }
}

/// The header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Records are zstd-compressed.
    pub compressed: bool,
    /// Capture start, unix nanoseconds.
    pub started_ns: u64,
}

impl Header {
    /// The 16 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..6].copy_from_slice(MAGIC);
        h[6] = VERSION;
        h[7] = if self.compressed { FLAG_ZSTD } else { 0 };
        h[8..].copy_from_slice(&self.started_ns.to_le_bytes());
        h
    }

    /// Reads and checks the header.
    pub fn decode(h: &[u8; HEADER_LEN]) -> Result<Self, CaptureError> {
        if &h[..6] != MAGIC {
            return Err(CaptureError::BadMagic);
        }
        if h[6] != VERSION {
            return Err(CaptureError::Version(h[6]));
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&h[8..]);
        Ok(Self {
            compressed: h[7] & FLAG_ZSTD != 0,
            started_ns: u64::from_le_bytes(t),
        })
    }
}

/// The encoded length of a record.
pub fn record_len(r: &Record) -> usize {
    let payload = r.payload.len().min(u32::MAX as usize);
    let container = r
        .container
        .as_deref()
        .map_or(0, |c| 2 + c.len().min(usize::from(u16::MAX)));
    14 + if r.pid.is_some() { 4 } else { 0 } + container + payload
}

/// Appends one record's bytes to `out`.
pub fn encode_record(out: &mut Vec<u8>, r: &Record) {
    let len = u32::try_from(r.payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&r.time_ns.to_le_bytes());
    out.push(transport_code(r.transport));
    let container = r
        .container
        .as_deref()
        .map(|c| &c.as_bytes()[..c.len().min(usize::from(u16::MAX))]);
    let has = u8::from(r.pid.is_some()) * HAS_PID + u8::from(container.is_some()) * HAS_CONTAINER;
    out.push(has);
    if let Some(pid) = r.pid {
        out.extend_from_slice(&pid.to_le_bytes());
    }
    if let Some(c) = container {
        out.extend_from_slice(&(c.len() as u16).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&r.payload[..len as usize]);
}

/// Writes a capture: header, then records, optionally through zstd.
pub struct Writer<W: Write> {
    out: Inner<W>,
    buf: Vec<u8>,
}

enum Inner<W: Write> {
    Plain(W),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Writer<W> {
    /// Writes the header to `w`.
    pub fn new(mut w: W, header: Header) -> io::Result<Self> {
        w.write_all(&header.encode())?;
        let out = if header.compressed {
            Inner::Zstd(zstd::stream::write::Encoder::new(w, 1)?)
        } else {
            Inner::Plain(w)
        };
        Ok(Self {
            out,
            buf: Vec::with_capacity(1024),
        })
    }

    /// Appends one record.
    pub fn write(&mut self, r: &Record) -> io::Result<()> {
        self.buf.clear();
        encode_record(&mut self.buf, r);
        match &mut self.out {
            Inner::Plain(w) => w.write_all(&self.buf),
            Inner::Zstd(w) => w.write_all(&self.buf),
        }
    }

    /// Makes everything written so far readable (a zstd block boundary).
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Inner::Plain(w) => w.flush(),
            Inner::Zstd(w) => w.flush(),
        }
    }

    /// Ends the stream and returns the underlying writer, flushed.
    pub fn finish(self) -> io::Result<W> {
        let mut w = match self.out {
            Inner::Plain(w) => w,
            Inner::Zstd(w) => w.finish()?,
        };
        w.flush()?;
        Ok(w)
    }
}

/// Reads a capture record by record.
pub struct Reader {
    header: Header,
    input: Box<dyn BufRead>,
    done: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean end of input
/// before the first byte, `Truncated` on an end after it.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<bool, CaptureError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return if got == 0 {
                    Ok(false)
                } else {
                    Err(CaptureError::Truncated)
                };
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // zstd reports an unfinished frame as an error at its end.
            Err(e)
                if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::Other =>
            {
                return Err(CaptureError::Truncated);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

impl Reader {
    /// Reads the header of `input`.
    pub fn new(mut input: impl Read + 'static) -> Result<Self, CaptureError> {
        let mut h = [0u8; HEADER_LEN];
        match read_full(&mut input, &mut h) {
            Ok(true) => {}
            // Shorter than a header: not a capture.
            Ok(false) | Err(CaptureError::Truncated) => return Err(CaptureError::BadMagic),
            Err(e) => return Err(e),
        }
        let header = Header::decode(&h)?;
        let input: Box<dyn BufRead> = if header.compressed {
            Box::new(BufReader::new(zstd::stream::read::Decoder::new(input)?))
        } else {
            Box::new(BufReader::new(input))
        };
        Ok(Self {
            header,
            input,
            done: false,
        })
    }

    /// Opens a capture file.
    pub fn open(path: &std::path::Path) -> Result<Self, CaptureError> {
        Self::new(std::fs::File::open(path)?)
    }

    /// The header.
    pub fn header(&self) -> Header {
        self.header
    }

    fn next_record(&mut self) -> Result<Option<Record>, CaptureError> {
        let mut fixed = [0u8; 14];
        if !read_full(&mut self.input, &mut fixed)? {
            return Ok(None);
        }
        let len = u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]) as usize;
        let mut t = [0u8; 8];
        t.copy_from_slice(&fixed[4..12]);
        let time_ns = u64::from_le_bytes(t);
        let transport = transport_of(fixed[12]);
        let has = fixed[13];
        if has & !(HAS_PID | HAS_CONTAINER) != 0 {
            return Err(CaptureError::Corrupt("unknown field flags"));
        }
        let need = |r: &mut dyn Read, buf: &mut [u8]| -> Result<(), CaptureError> {
            if read_full(r, buf)? {
                Ok(())
            } else {
                Err(CaptureError::Truncated)
            }
        };
        let pid = if has & HAS_PID != 0 {
            let mut p = [0u8; 4];
            need(&mut self.input, &mut p)?;
            Some(u32::from_le_bytes(p))
        } else {
            None
        };
        let container = if has & HAS_CONTAINER != 0 {
            let mut l = [0u8; 2];
            need(&mut self.input, &mut l)?;
            let mut c = vec![0u8; usize::from(u16::from_le_bytes(l))];
            need(&mut self.input, &mut c)?;
            let s = String::from_utf8(c).map_err(|_| CaptureError::Corrupt("container id"))?;
            Some(Arc::from(s))
        } else {
            None
        };
        // A length beyond anything a listener reads means corruption, not
        // a reason to allocate gigabytes.
        if len > 1 << 26 {
            return Err(CaptureError::Corrupt("payload length"));
        }
        let mut payload = vec![0u8; len];
        if len > 0 {
            need(&mut self.input, &mut payload)?;
        }
        Ok(Some(Record {
            time_ns,
            transport,
            pid,
            container,
            payload,
        }))
    }
}

impl Iterator for Reader {
    type Item = Result<Record, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        vec![
            Record {
                time_ns: 1_700_000_000_123_456_789,
                transport: Transport::Udp,
                pid: None,
                container: None,
                payload: b"a:1|c\nb:2|g".to_vec(),
            },
            Record {
                time_ns: 1_700_000_000_223_456_789,
                transport: Transport::UnixDatagram,
                pid: Some(4242),
                container: Some(Arc::from("0123abcd")),
                payload: b"c:3|d|#x:y".to_vec(),
            },
            Record {
                time_ns: 1_700_000_001_000_000_000,
                transport: Transport::UnixStream,
                pid: None,
                container: None,
                payload: Vec::new(),
            },
        ]
    }

    fn write_all(compressed: bool) -> Vec<u8> {
        let mut w = Writer::new(
            Vec::new(),
            Header {
                compressed,
                started_ns: 1_700_000_000_000_000_000,
            },
        )
        .unwrap();
        for r in sample() {
            w.write(&r).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trips_plain_and_zstd() {
        for compressed in [false, true] {
            let bytes = write_all(compressed);
            let reader = Reader::new(io::Cursor::new(bytes)).unwrap();
            assert_eq!(reader.header().compressed, compressed);
            assert_eq!(reader.header().started_ns, 1_700_000_000_000_000_000);
            let got: Vec<Record> = reader.map(Result::unwrap).collect();
            assert_eq!(got, sample());
        }
    }

    #[test]
    fn record_len_is_the_encoded_length() {
        for r in sample() {
            let mut out = Vec::new();
            encode_record(&mut out, &r);
            assert_eq!(record_len(&r), out.len());
        }
    }

    #[test]
    fn plain_records_are_compact() {
        // 16 header + (14 + 11) + (14 + 4 + 2 + 8 + 10) + 14
        assert_eq!(write_all(false).len(), 16 + 25 + 38 + 14);
    }

    #[test]
    fn a_cut_short_file_yields_its_complete_records_then_truncated() {
        let bytes = write_all(false);
        let cut = bytes[..bytes.len() - 20].to_vec();
        let got: Vec<_> = Reader::new(io::Cursor::new(cut)).unwrap().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap(), &sample()[0]);
        assert!(matches!(got[1], Err(CaptureError::Truncated)));
    }

    #[test]
    fn an_unfinished_zstd_stream_keeps_what_was_flushed() {
        let mut w = Writer::new(
            Vec::new(),
            Header {
                compressed: true,
                started_ns: 0,
            },
        )
        .unwrap();
        let recs = sample();
        w.write(&recs[0]).unwrap();
        w.flush().unwrap();
        // Take the bytes without finishing the frame.
        let Inner::Zstd(enc) = w.out else {
            unreachable!()
        };
        let bytes = enc.get_ref().clone();
        let got: Vec<_> = Reader::new(io::Cursor::new(bytes)).unwrap().collect();
        assert_eq!(got[0].as_ref().unwrap(), &recs[0]);
        assert!(got.len() <= 2);
    }

    #[test]
    fn other_files_are_refused() {
        assert!(matches!(
            Reader::new(io::Cursor::new(b"page.views:1|c\n".to_vec())),
            Err(CaptureError::BadMagic)
        ));
        let mut h = Header {
            compressed: false,
            started_ns: 0,
        }
        .encode();
        h[6] = 9;
        assert!(matches!(
            Reader::new(io::Cursor::new(h.to_vec())),
            Err(CaptureError::Version(9))
        ));
        assert!(matches!(
            Reader::new(io::Cursor::new(Vec::new())),
            Err(CaptureError::BadMagic)
        ));
    }
}
