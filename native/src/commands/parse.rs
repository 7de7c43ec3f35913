//! `dogstatsd parse`: one JSON line per message of the payload on stdin.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use dogstatsd_core::flush::{Event, ServiceCheck};
use dogstatsd_core::output;
use dogstatsd_core::pipeline::{Processed, Processor};
use dogstatsd_core::protocol::{ParseErrorKind, Transport};

/// Runs the pipeline's front half over `input`, writing records to `out`.
/// A final message without `\n` on a transport that requires one is
/// dropped (and counted), as the daemon drops it: no record, a note on
/// `notes`.
pub fn render(
    processor: &mut Processor,
    input: &[u8],
    transport: Transport,
    out: &mut Vec<u8>,
    notes: &mut Vec<u8>,
) {
    processor.process_packet(input, transport, |p| {
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
    let cfg = match super::load_or_exit(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut processor = match Processor::new(&cfg) {
        Ok(p) => p,
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
    let mut out = Vec::with_capacity(input.len() * 4);
    let mut notes = Vec::new();
    render(&mut processor, &input, transport, &mut out, &mut notes);
    let _ = std::io::stderr().write_all(&notes);
    if let Err(e) = std::io::stdout().lock().write_all(&out)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("dogstatsd: cannot write stdout: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
