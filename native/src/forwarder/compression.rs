//! Request-body compression (`serializer_compressor_kind`) and, for the
//! test intake, decompression by `Content-Encoding`.

use std::io::{Read, Write};

use dogstatsd_core::config::CompressorKind;

/// Default `serializer_zstd_compressor_level`.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// How request bodies are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression, no `Content-Encoding` header (kind `none`).
    None,
    /// zstd at the given level, `Content-Encoding: zstd` (kind `zstd`, the
    /// current Agent default).
    Zstd(i32),
    /// zlib stream, `Content-Encoding: deflate` (kind `zlib`).
    Deflate,
    /// gzip stream, `Content-Encoding: gzip` (kind `gzip`).
    Gzip,
}

impl Default for Compression {
    fn default() -> Self {
        Self::Zstd(DEFAULT_ZSTD_LEVEL)
    }
}

/// Why compression or decompression failed.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    /// `Content-Encoding` names no supported encoding.
    #[error("unsupported content encoding {0:?}")]
    UnknownEncoding(String),
    /// The decompressed body exceeds the limit.
    #[error("decompressed body exceeds {0} bytes")]
    TooLarge(usize),
    /// The stream is corrupt, or the compressor failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Compression {
    /// From `serializer_compressor_kind` and
    /// `serializer_zstd_compressor_level`, as core's one reader of the
    /// payload settings read them.
    pub fn from_settings(kind: CompressorKind, zstd_level: i32) -> Self {
        match kind {
            CompressorKind::Zstd => Self::Zstd(zstd_level),
            CompressorKind::Zlib => Self::Deflate,
            CompressorKind::Gzip => Self::Gzip,
            CompressorKind::None => Self::None,
        }
    }

    /// The `Content-Encoding` header value, `None` for no compression.
    pub const fn content_encoding(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Zstd(_) => Some("zstd"),
            Self::Deflate => Some("deflate"),
            Self::Gzip => Some("gzip"),
        }
    }

    /// Compresses a whole body into one stream.
    pub fn compress(self, body: &[u8]) -> Result<Vec<u8>, CompressionError> {
        Ok(match self {
            Self::None => body.to_vec(),
            Self::Zstd(level) => zstd::bulk::compress(body, level)?,
            Self::Deflate => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(body)?;
                e.finish()?
            }
            Self::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(body)?;
                e.finish()?
            }
        })
    }
}

/// Decompresses a body by its `Content-Encoding` (`zstd`, `deflate` with
/// or without a zlib header, `gzip`, `identity` or absent), refusing to
/// produce more than `limit` bytes.
pub fn decompress(
    encoding: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, CompressionError> {
    let enc = encoding.map(|e| e.trim().to_ascii_lowercase());
    let out = match enc.as_deref() {
        None | Some("") | Some("identity") => body.to_vec(),
        Some("zstd") => read_limited(zstd::stream::read::Decoder::new(body)?, limit)?,
        Some("deflate") => {
            // Agents send a zlib stream; some clients send raw deflate.
            match read_limited(flate2::read::ZlibDecoder::new(body), limit) {
                Ok(v) => v,
                Err(CompressionError::TooLarge(n)) => return Err(CompressionError::TooLarge(n)),
                Err(_) => read_limited(flate2::read::DeflateDecoder::new(body), limit)?,
            }
        }
        Some("gzip") => read_limited(flate2::read::GzDecoder::new(body), limit)?,
        Some(other) => return Err(CompressionError::UnknownEncoding(other.to_string())),
    };
    if out.len() > limit {
        return Err(CompressionError::TooLarge(limit));
    }
    Ok(out)
}

fn read_limited(r: impl Read, limit: usize) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1).read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(CompressionError::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_encodings() {
        let k = |s| {
            let kind = CompressorKind::parse(s).unwrap();
            Compression::from_settings(kind, 1).content_encoding()
        };
        assert_eq!(k("zstd"), Some("zstd"));
        assert_eq!(k(""), Some("zstd"));
        assert_eq!(k("zlib"), Some("deflate"));
        assert_eq!(k("GZIP"), Some("gzip"));
        assert_eq!(k("none"), None);
        assert!(CompressorKind::parse("lz4").is_err());
    }

    #[test]
    fn every_kind_round_trips() {
        let body: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        for c in [
            Compression::None,
            Compression::Zstd(1),
            Compression::Deflate,
            Compression::Gzip,
        ] {
            let packed = c.compress(&body).unwrap();
            let back = decompress(c.content_encoding(), &packed, 1 << 20).unwrap();
            assert_eq!(back, body, "{c:?}");
        }
    }

    #[test]
    fn raw_deflate_is_accepted_too() {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"hello hello hello").unwrap();
        let raw = e.finish().unwrap();
        assert_eq!(
            decompress(Some("deflate"), &raw, 100).unwrap(),
            b"hello hello hello"
        );
    }

    #[test]
    fn limits_and_garbage_are_errors() {
        let packed = Compression::Zstd(1).compress(&[0u8; 5000]).unwrap();
        assert!(matches!(
            decompress(Some("zstd"), &packed, 4999),
            Err(CompressionError::TooLarge(4999))
        ));
        assert!(decompress(Some("zstd"), &packed, 5000).is_ok());
        assert!(decompress(Some("gzip"), b"not gzip", 100).is_err());
        assert!(matches!(
            decompress(Some("br"), b"x", 100),
            Err(CompressionError::UnknownEncoding(_))
        ));
        assert!(matches!(
            decompress(None, &[0; 101], 100),
            Err(CompressionError::TooLarge(100))
        ));
    }
}
