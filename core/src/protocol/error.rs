//! Why a message was rejected.

/// What is wrong with a message. Small and `Copy`, so a bad message costs
/// no allocation; [`ParseError`] adds where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The transport requires `\n` after every message and the packet's
    /// last message had none (`dogstatsd_eol_required`).
    #[error("message is not terminated by a newline")]
    Unterminated,
    /// A metric without any `|`.
    #[error("invalid metric format: no '|' field separator")]
    MissingPipe,
    /// A metric whose first field has no `:` between name and value.
    #[error("invalid metric format: no ':' between name and value")]
    MissingColon,
    /// A metric with an empty name.
    #[error("invalid metric format: empty name")]
    EmptyName,
    /// A metric with an empty value.
    #[error("invalid metric format: empty value")]
    EmptyValue,
    /// The second field is not one of `c g h ms d s`.
    #[error("invalid metric type")]
    InvalidType,
    /// A value that is not a number (Go `ParseFloat` syntax), or overflows.
    #[error("invalid metric value")]
    InvalidValue,
    /// A multi-value list without any value (`:`, `::`).
    #[error("no value found in value list")]
    NoValue,
    /// `@` followed by something that is not a number.
    #[error("invalid sample rate")]
    InvalidSampleRate,
    /// `T` followed by something that is not a positive integer.
    #[error("invalid timestamp: must be a positive integer")]
    InvalidTimestamp,
    /// An event without `:` after its header.
    #[error("invalid event format: no ':' after the header")]
    EventMissingColon,
    /// An event header that is not `_e{<title length>,<text length>}`.
    #[error("invalid event header")]
    EventInvalidHeader,
    /// The title length is not a non-negative integer.
    #[error("invalid event title length")]
    EventInvalidTitleLength,
    /// The text length is not a non-negative integer.
    #[error("invalid event text length")]
    EventInvalidTextLength,
    /// Title length 0.
    #[error("invalid event: empty title")]
    EventEmptyTitle,
    /// Fewer bytes than the header declares.
    #[error("invalid event: shorter than the declared title and text lengths")]
    EventTooShort,
    /// A service check with fewer than two `|`.
    #[error("invalid service check format")]
    ServiceCheckFormat,
    /// A service check with an empty name.
    #[error("invalid service check: empty name")]
    ServiceCheckEmptyName,
    /// A status that is not exactly one of `0 1 2 3`.
    #[error("invalid service check status")]
    ServiceCheckInvalidStatus,
    /// A well-formed metric with more tags than `dogstatsd_max_metrics_tags`.
    #[error("too many tags (dogstatsd_max_metrics_tags)")]
    TooManyTags,
    /// A well-formed metric with a tag longer than `dogstatsd_max_tag_length`.
    #[error("tag too long (dogstatsd_max_tag_length)")]
    TagTooLong,
    /// A well-formed metric whose name is longer than
    /// `dogstatsd_max_name_length`.
    #[error("metric name too long (dogstatsd_max_name_length)")]
    NameTooLong,
}

/// A rejected message: what is wrong and the byte offset in the message
/// where the fault starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{kind} (at byte {at})")]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Byte offset in the message.
    pub at: u32,
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, at: usize) -> Self {
        Self {
            kind,
            at: u32::try_from(at).unwrap_or(u32::MAX),
        }
    }
}

/// Which kind of message a line is, for counting errors by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A metric sample line.
    Metric,
    /// An `_e{` line.
    Event,
    /// An `_sc` line.
    ServiceCheck,
}

impl ParseErrorKind {
    /// True for a message that parsed but exceeds a configured limit
    /// (counted apart from parse errors).
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            Self::TooManyTags | Self::TagTooLong | Self::NameTooLong
        )
    }

    /// The message kind this error belongs to (telemetry counts errors by
    /// message type, as the Agent does).
    pub fn message_kind(self) -> MessageKind {
        use ParseErrorKind::*;
        match self {
            EventMissingColon
            | EventInvalidHeader
            | EventInvalidTitleLength
            | EventInvalidTextLength
            | EventEmptyTitle
            | EventTooShort => MessageKind::Event,
            ServiceCheckFormat | ServiceCheckEmptyName | ServiceCheckInvalidStatus => {
                MessageKind::ServiceCheck
            }
            _ => MessageKind::Metric,
        }
    }
}
