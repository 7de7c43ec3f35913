//! Arbitrary bytes split into arbitrary reads through the UDS stream
//! (length-prefixed) and named-pipe (newline) framers, checked against
//! reference models: frames are exactly the ones encoded, never longer
//! than the maximum, errors are sticky.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dogstatsd_fuzz::checks::check_stream_input(data);
});
