//! `dogstatsd aggregate`: the payload on stdin as if it all arrived at
//! `--now` within one interval, flushed at once.

use std::path::Path;
use std::process::ExitCode;

use dogstatsd_core::aggregate::FlushMode;
use dogstatsd_core::output;
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;
use dogstatsd_core::time::Timestamp;

/// Aggregates `input` received at `now` and renders every record.
pub fn render(
    server: &mut Server,
    input: &[u8],
    transport: Transport,
    now: i64,
    out: &mut Vec<u8>,
) {
    let now = Timestamp::from_secs(now);
    let _ = server.handle_packet(now, transport.into(), input);
    let flush = server.flush(now, FlushMode::All);
    output::write_flush(out, &flush);
}

/// The current unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The `aggregate` subcommand.
pub fn run(config: Option<&Path>, now: Option<i64>, transport: Transport) -> ExitCode {
    let mut server = match super::prepare(config, Server::new) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let input = match super::read_stdin() {
        Ok(i) => i,
        Err(code) => return code,
    };
    let mut out = Vec::new();
    render(
        &mut server,
        &input,
        transport,
        now.unwrap_or_else(unix_now),
        &mut out,
    );
    super::write_stdout(&out)
}
