//! `dogstatsd aggregate`: the payload on stdin as if it all arrived at
//! `--now` within one interval, flushed at once.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use dogstatsd_core::output;
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;

/// Aggregates `input` received at `now` and renders every record.
pub fn render(
    server: &mut Server,
    input: &[u8],
    transport: Transport,
    now: i64,
    out: &mut Vec<u8>,
) {
    server.push(input, transport, now);
    let flush = server.flush(now, true);
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
    let cfg = match super::load_or_exit(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut server = match Server::new(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dogstatsd: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        eprintln!("dogstatsd: cannot read stdin: {e}");
        return ExitCode::from(1);
    }
    let mut out = Vec::new();
    render(
        &mut server,
        &input,
        transport,
        now.unwrap_or_else(unix_now),
        &mut out,
    );
    if let Err(e) = std::io::stdout().lock().write_all(&out)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("dogstatsd: cannot write stdout: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
