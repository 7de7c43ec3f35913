//! An arbitrary sequence of pushes and flushes (times going back and
//! forth, any `i64`) against core's inline server under a small arbitrary
//! configuration, checked against a reference server and through the
//! intake encoders and decoders (see `src/push_flush.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dogstatsd_fuzz::push_flush::check_push_flush_input(data);
});
