//! The UDP packet assembler (spec §1.2): datagrams are copied into one
//! packet of `dogstatsd_buffer_size` bytes, joined with `\n`, and the
//! packet is handed over when the next datagram would not fit or when it
//! has waited for the flush timeout. Fewer, fuller packets mean fewer queue
//! hand-offs per message.

use std::time::{Duration, Instant};

/// Joins datagrams into packets. Pure: the caller supplies buffers and time.
#[derive(Debug)]
pub(crate) struct Assembler {
    packet: Vec<u8>,
    capacity: usize,
    started: Option<Instant>,
    timeout: Duration,
}

impl Assembler {
    /// An assembler building packets of at most `capacity` bytes into
    /// `first` (an empty pooled buffer), flushing after `timeout`.
    pub(crate) fn new(capacity: usize, timeout: Duration, first: Vec<u8>) -> Self {
        Self {
            packet: first,
            capacity: capacity.max(1),
            started: None,
            timeout,
        }
    }

    /// Adds a datagram received at `now`. When it does not fit after the
    /// bytes already held, the held packet is returned (the caller queues
    /// it and supplies the next empty buffer through `fresh`) and the
    /// datagram starts the next one.
    pub(crate) fn push(
        &mut self,
        datagram: &[u8],
        now: Instant,
        fresh: impl FnOnce() -> Vec<u8>,
    ) -> Option<Vec<u8>> {
        let datagram = &datagram[..datagram.len().min(self.capacity)];
        let mut full = None;
        if !self.packet.is_empty() && self.packet.len() + 1 + datagram.len() > self.capacity {
            full = Some(std::mem::replace(&mut self.packet, fresh()));
            self.started = None;
        }
        if !self.packet.is_empty() {
            self.packet.push(b'\n');
        }
        self.packet.extend_from_slice(datagram);
        self.started.get_or_insert(now);
        full
    }

    /// When the held packet is due, `None` when nothing is held.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.started.map(|t| t + self.timeout)
    }

    /// The held packet when it has waited at least the timeout at `now`
    /// (or unconditionally when `force`).
    pub(crate) fn flush_due(
        &mut self,
        now: Instant,
        force: bool,
        fresh: impl FnOnce() -> Vec<u8>,
    ) -> Option<Vec<u8>> {
        let due = self
            .started
            .is_some_and(|t| force || now.saturating_duration_since(t) >= self.timeout);
        if !due || self.packet.is_empty() {
            return None;
        }
        self.started = None;
        Some(std::mem::replace(&mut self.packet, fresh()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_with_newlines_and_splits_when_full() {
        let t0 = Instant::now();
        let mut a = Assembler::new(12, Duration::from_millis(100), Vec::new());
        assert_eq!(a.push(b"a:1|c", t0, Vec::new), None);
        assert_eq!(a.push(b"b:2|c", t0, Vec::new), None); // 5 + 1 + 5 = 11
        assert_eq!(
            a.push(b"c:3|c", t0, Vec::new),
            Some(b"a:1|c\nb:2|c".to_vec())
        );
        assert_eq!(a.flush_due(t0, false, Vec::new), None);
        assert_eq!(a.deadline(), Some(t0 + Duration::from_millis(100)));
        let later = t0 + Duration::from_millis(100);
        assert_eq!(a.flush_due(later, false, Vec::new), Some(b"c:3|c".to_vec()));
        assert_eq!(a.flush_due(later, true, Vec::new), None);
        assert_eq!(a.deadline(), None);
    }

    #[test]
    fn trailing_newline_datagrams_give_empty_lines() {
        let t0 = Instant::now();
        let mut a = Assembler::new(64, Duration::ZERO, Vec::new());
        a.push(b"a:1|c\n", t0, Vec::new);
        a.push(b"b:2|c\n", t0, Vec::new);
        assert_eq!(
            a.flush_due(t0, false, Vec::new),
            Some(b"a:1|c\n\nb:2|c\n".to_vec())
        );
    }

    #[test]
    fn a_full_size_datagram_is_a_packet_of_its_own() {
        let t0 = Instant::now();
        let mut a = Assembler::new(4, Duration::ZERO, Vec::new());
        assert_eq!(a.push(b"abcd", t0, Vec::new), None);
        assert_eq!(a.push(b"efghij", t0, Vec::new), Some(b"abcd".to_vec()));
        assert_eq!(a.flush_due(t0, true, Vec::new), Some(b"efgh".to_vec()));
    }
}
