//! `dogstatsd parse`: one JSON line per message of the payload on stdin.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use dogstatsd_core::flush::{Event, ServiceCheck};
use dogstatsd_core::frontend::{Frontend, Processed};
use dogstatsd_core::output;
use dogstatsd_core::protocol::{ParseErrorKind, Transport};

/// Runs the pipeline's front half over `input`, writing records to `out`.
/// A final message without `\n` on a transport that requires one is
/// dropped (and counted), as the daemon drops it: no record, a note on
/// `notes`.
pub fn render(
    processor: &mut Frontend,
    input: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
    notes: &mut Vec<u8>,
) {
    processor.process_packet(input, transport, |p: Processed<'_>| {
        match &p {
            Processed::Error { line, error } if error.kind == ParseErrorKind::Unterminated => {
                notes.extend_from_slice(b"dogstatsd: dropped unterminated message: ");
                notes.extend_from_slice(&line.escape_ascii().to_string().into_bytes());
                notes.push(b'\n');
                return;
            }
            Processed::Metric(m) => output::write_metric(out, m),
            Processed::Event(e) => output::write_event(out, &Event::from(e)),
            Processed::ServiceCheck(s) => output::write_service_check(out, &ServiceCheck::from(s)),
            Processed::Error { line, error } => output::write_error(out, line, error),
        }
        out.push(b'\n');
    });
}

/// The `parse` subcommand.
pub fn run(config: Option<&Path>, transport: Transport) -> ExitCode {
    let mut processor = match super::prepare(config, Frontend::new) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let input = match super::read_stdin() {
        Ok(i) => i,
        Err(code) => return code,
    };
    let mut out = Vec::with_capacity(input.len() * 4);
    let mut notes = Vec::new();
    render(&mut processor, &input, transport, &mut out, &mut notes);
    let _ = std::io::stderr().write_all(&notes);
    super::write_stdout(&out)
}
