//! Arbitrary bytes as a DogStatsD packet: parsing and processing never
//! panic, agree with each other, and every parsed message round-trips
//! through its canonical text. The first byte also selects options
//! (origin fields, eol required, ...) for a second pass over the rest.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dogstatsd_fuzz::checks::check_packet_input(data);
});
