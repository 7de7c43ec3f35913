//! The DogStatsD wire protocol: packets to lines, lines to messages, and
//! framing for stream transports. Pure functions over borrowed bytes.

mod error;
mod framer;
mod lines;
mod message;
mod number;
mod parse;

pub use error::{MessageKind, ParseError, ParseErrorKind};
pub use framer::{FrameError, LengthPrefixedFramer, NewlineFramer};
pub(crate) use lines::first_line;
pub use lines::{Line, Lines};
pub use message::{
    AlertType, CheckStatus, EventMessage, Message, MetricMessage, MetricType, MetricValues,
    MultiValues, Origin, Priority, RawTags, ServiceCheckMessage, TagIter, ValueIter,
};
pub(crate) use parse::parse_metric_stream;
pub use parse::{
    ParseOptions, is_event_or_service_check, parse_event, parse_message, parse_metric,
    parse_metric_into, parse_service_check,
};

/// Parses every line of a packet: yields each non-empty line with its
/// parse result, in order. A bad line never affects the others.
pub fn parse_packet<'a>(
    packet: &'a [u8],
    require_eol: bool,
    opts: &ParseOptions,
) -> impl Iterator<Item = (&'a [u8], Result<Message<'a>, ParseError>)> + use<'a> {
    let opts = *opts;
    Lines::new(packet, require_eol).map(move |line| match line {
        Line::Message(l) => (l, parse_message(l, &opts)),
        Line::Unterminated(l) => (
            l,
            Err(ParseError::new(ParseErrorKind::Unterminated, l.len())),
        ),
    })
}

/// The transports a packet can come from (for `dogstatsd_eol_required`
/// and telemetry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// Unix datagram socket.
    UnixDatagram,
    /// Unix stream socket (length-prefixed frames).
    UnixStream,
    /// Windows named pipe.
    NamedPipe,
    /// Handed in by an embedding program (wasm `push`, tests).
    Push,
}

/// Where a packet came from: its transport and, when the transport can
/// say (Unix sockets with origin detection), the sending process and its
/// container. Origin-based tagging reads it from here; what a message
/// says of its own origin (`c:`, `card:`) is [`Origin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketOrigin<'a> {
    /// The transport.
    pub transport: Transport,
    /// The sender's process id (Unix socket credentials).
    pub pid: Option<u32>,
    /// The sender's container id, resolved from its pid.
    pub container_id: Option<&'a str>,
}

impl From<Transport> for PacketOrigin<'_> {
    /// A packet whose sender is known only by its transport.
    fn from(transport: Transport) -> Self {
        Self {
            transport,
            pid: None,
            container_id: None,
        }
    }
}

impl Transport {
    /// The name used by `dogstatsd_eol_required` (`udp`, `uds`,
    /// `named_pipe`); both Unix transports are `uds`.
    pub fn eol_name(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::UnixDatagram | Self::UnixStream => "uds",
            Self::NamedPipe => "named_pipe",
            Self::Push => "push",
        }
    }
}

#[cfg(test)]
mod tests;
