//! One intake endpoint's delivery state, sans IO: the in-memory retry
//! queue, the backoff circuit breaker, the concurrency limit and the index
//! of payloads kept in the disk store. The shell feeds it payloads,
//! answers and the time, performs the [`Action`]s it returns (write a
//! file, delete a file, count a drop) and sends what [`Delivery::poll`]
//! hands out.
//!
//! Rules (the Agent forwarder's, `comp/forwarder/defaultforwarder`):
//!
//! * Payloads go out oldest first, at most `max_in_flight` at once.
//! * A retried failure blocks the endpoint for the backoff delay; no
//!   payload leaves before then. A success steps the backoff down.
//! * The queue holds at most `queue_max_bytes`; beyond it the **oldest**
//!   payloads leave it: written to the store when there is one (and it is
//!   not full), else dropped ([`FailReason::QueueFull`]).
//! * The store holds at most `store_max_bytes`; beyond it its **oldest**
//!   files are deleted ([`FailReason::StoreFull`]).
//! * When the memory queue is empty, stored payloads are loaded back
//!   (oldest first); a file is deleted only once its payload is delivered
//!   or given up on, so a crash in between sends it again rather than
//!   losing it.
//! * At stop, everything still queued is stored, or dropped
//!   ([`FailReason::Shutdown`]) without a store.

use std::collections::VecDeque;
use std::time::Duration;

use super::backoff::Backoff;
use super::queue::BoundedQueue;
use super::status::FailReason;

/// Identifies a stored payload (its file name in the native shell).
pub type StoreId = u64;

/// What the state needs to know of a payload.
pub trait Parcel {
    /// Bytes it takes (compressed body).
    fn bytes(&self) -> usize;
    /// Points it carries, for the counters.
    fn points(&self) -> u64;
    /// The stored copy it was loaded from, if any.
    fn stored(&self) -> Option<StoreId>;
    /// Records the stored copy just written for it.
    fn set_stored(&mut self, id: StoreId);
}

/// A stored payload the state knows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredEntry {
    /// Its id.
    pub id: StoreId,
    /// Its size on disk.
    pub bytes: usize,
    /// Points in it.
    pub points: u64,
}

/// Something the shell must do.
///
/// A [`Store`](Action::Store) must be answered with
/// [`Delivery::written`] or [`Delivery::store_failed`].
#[derive(Debug, PartialEq, Eq)]
pub enum Action<P> {
    /// Write `payload` to the store as `id` (then it is out of memory).
    Store {
        /// The file id.
        id: StoreId,
        /// The payload.
        payload: P,
    },
    /// Count `payload` as failed for `reason`, and delete its stored copy
    /// if it has one.
    Drop {
        /// The payload.
        payload: P,
        /// Why.
        reason: FailReason,
    },
    /// Delete stored file `entry.id`, counted as failed for `reason`.
    DropStored {
        /// The file.
        entry: StoredEntry,
        /// Why.
        reason: FailReason,
    },
    /// `payload` was read back from its file and leaves memory again; the
    /// file stays (nothing to write, but it counts as stored again).
    Unloaded {
        /// The payload.
        payload: P,
    },
    /// Delete stored file `id`: its payload is settled (counted by the
    /// shell with the answer).
    Remove {
        /// The file.
        id: StoreId,
    },
}

/// What the shell should do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<P> {
    /// Send this payload now (it counts as in flight until settled).
    Send(P),
    /// Read stored payload `id` and hand it to [`Delivery::loaded`].
    Load(StoredEntry),
    /// Nothing may leave before this time.
    WaitUntil(Duration),
    /// Nothing to send, or every slot busy: wait for a push or a settle.
    Idle,
}

/// How a sent payload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Delivered.
    Sent,
    /// Keep it and try again after the backoff.
    Retry,
    /// Give up on it.
    Fail(FailReason),
}

/// Limits of one endpoint's state.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// `forwarder_retry_queue_payloads_max_size`.
    pub queue_max_bytes: usize,
    /// `forwarder_storage_max_size_in_bytes`; 0 means no store.
    pub store_max_bytes: usize,
    /// Requests in flight at once.
    pub max_in_flight: usize,
}

/// One endpoint's delivery state. Time is a [`Duration`] since any fixed
/// origin the shell chooses.
#[derive(Debug)]
pub struct Delivery<P> {
    cfg: DeliveryConfig,
    queue: BoundedQueue<P>,
    backoff: Backoff,
    blocked_until: Duration,
    in_flight: usize,
    /// Stored payloads not in memory, oldest first.
    on_disk: VecDeque<StoredEntry>,
    /// Bytes of every stored file (in memory or not).
    disk_bytes: usize,
    /// A load was handed out and not answered yet.
    loading: bool,
    /// A payload read back, sent next; outside the queue so a payload
    /// larger than the whole queue still leaves the store.
    reloaded: Option<P>,
    next_id: StoreId,
}

impl<P: Parcel> Delivery<P> {
    /// An empty state.
    pub fn new(cfg: DeliveryConfig, backoff: Backoff) -> Self {
        Self {
            queue: BoundedQueue::new(cfg.queue_max_bytes),
            cfg,
            backoff,
            blocked_until: Duration::ZERO,
            in_flight: 0,
            on_disk: VecDeque::new(),
            disk_bytes: 0,
            loading: false,
            reloaded: None,
            next_id: 1,
        }
    }

    /// Takes the store's content found at start (any order); entries
    /// beyond the store's size are dropped, oldest first.
    pub fn restore(&mut self, mut entries: Vec<StoredEntry>) -> Vec<Action<P>> {
        entries.sort_by_key(|e| e.id);
        let mut out = Vec::new();
        for e in entries {
            self.next_id = self.next_id.max(e.id + 1);
            self.disk_bytes += e.bytes;
            self.on_disk.push_back(e);
        }
        self.trim_store(0, &mut out);
        out
    }

    /// Queues a new payload.
    pub fn push(&mut self, payload: P) -> Vec<Action<P>> {
        let mut out = Vec::new();
        self.enqueue(payload, &mut out);
        out
    }

    fn enqueue(&mut self, payload: P, out: &mut Vec<Action<P>>) {
        let size = payload.bytes();
        for old in self.queue.push(payload, size) {
            self.evict(old, FailReason::QueueFull, out);
        }
    }

    /// A payload leaves memory: to the store if there is room, else
    /// dropped for `reason`.
    fn evict(&mut self, payload: P, reason: FailReason, out: &mut Vec<Action<P>>) {
        if self.cfg.store_max_bytes == 0 {
            out.push(Action::Drop { payload, reason });
            return;
        }
        let entry = StoredEntry {
            id: payload.stored().unwrap_or(self.next_id),
            bytes: payload.bytes(),
            points: payload.points(),
        };
        if payload.stored().is_some() {
            // Its file is still there: forget the copy in memory.
            self.on_disk.push_back(entry);
            out.push(Action::Unloaded { payload });
            return;
        }
        if entry.bytes > self.cfg.store_max_bytes {
            out.push(Action::Drop {
                payload,
                reason: FailReason::StoreFull,
            });
            return;
        }
        self.trim_store(entry.bytes, out);
        self.next_id += 1;
        // Counted now so the bound holds; listed for loading only once
        // the shell says the file is written ([`Delivery::written`]).
        self.disk_bytes += entry.bytes;
        let mut payload = payload;
        payload.set_stored(entry.id);
        out.push(Action::Store {
            id: entry.id,
            payload,
        });
    }

    /// Deletes the oldest files not in memory until `room` more bytes fit.
    fn trim_store(&mut self, room: usize, out: &mut Vec<Action<P>>) {
        while self.disk_bytes + room > self.cfg.store_max_bytes {
            let Some(old) = self.on_disk.pop_front() else {
                break;
            };
            self.disk_bytes -= old.bytes;
            out.push(Action::DropStored {
                entry: old,
                reason: FailReason::StoreFull,
            });
        }
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Duration) -> Next<P> {
        if self.in_flight >= self.cfg.max_in_flight.max(1) {
            return Next::Idle;
        }
        if now < self.blocked_until
            && !(self.queue.is_empty() && self.on_disk.is_empty() && self.reloaded.is_none())
        {
            return Next::WaitUntil(self.blocked_until);
        }
        if let Some(p) = self.reloaded.take().or_else(|| self.queue.pop()) {
            self.in_flight += 1;
            return Next::Send(p);
        }
        if !self.loading
            && let Some(e) = self.on_disk.pop_front()
        {
            self.loading = true;
            return Next::Load(e);
        }
        Next::Idle
    }

    /// The answer to [`Next::Load`]: the payload read back, or `None`
    /// when the file was unusable (the shell counts it and sets it aside).
    pub fn loaded(&mut self, entry: StoredEntry, payload: Option<P>) -> Vec<Action<P>> {
        self.loading = false;
        let mut out = Vec::new();
        match payload {
            Some(p) => {
                if let Some(old) = self.reloaded.replace(p) {
                    self.enqueue(old, &mut out);
                }
            }
            None => self.disk_bytes = self.disk_bytes.saturating_sub(entry.bytes),
        }
        out
    }

    /// An [`Action::Store`]'s file is written: it may be loaded back.
    pub fn written(&mut self, entry: StoredEntry) {
        self.on_disk.push_back(entry);
    }

    /// An [`Action::Store`] could not be written: the state forgets the
    /// file (the shell counts the payload as failed).
    pub fn store_failed(&mut self, entry: StoredEntry) {
        self.disk_bytes = self.disk_bytes.saturating_sub(entry.bytes);
    }

    /// A sent payload's outcome at `now`.
    pub fn settle(&mut self, payload: P, how: Settle, now: Duration) -> Vec<Action<P>> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let mut out = Vec::new();
        match how {
            Settle::Sent => {
                self.backoff.on_success();
                self.blocked_until = Duration::ZERO;
                self.forget(&payload, &mut out);
            }
            Settle::Retry => {
                self.backoff.on_retry();
                self.blocked_until = self.blocked_until.max(now + self.backoff.delay());
                self.enqueue(payload, &mut out);
            }
            Settle::Fail(reason) => out.push(self.fail(payload, reason)),
        }
        out
    }

    fn fail(&mut self, payload: P, reason: FailReason) -> Action<P> {
        if payload.stored().is_some() {
            self.disk_bytes = self.disk_bytes.saturating_sub(payload.bytes());
        }
        Action::Drop { payload, reason }
    }

    fn forget(&mut self, payload: &P, out: &mut Vec<Action<P>>) {
        if let Some(id) = payload.stored() {
            self.disk_bytes = self.disk_bytes.saturating_sub(payload.bytes());
            out.push(Action::Remove { id });
        }
    }

    /// At stop: everything still in memory goes to the store, or is
    /// dropped ([`FailReason::Shutdown`]) without one.
    pub fn drain(&mut self) -> Vec<Action<P>> {
        let mut out = Vec::new();
        let pending: Vec<P> = self
            .reloaded
            .take()
            .into_iter()
            .chain(self.queue.drain())
            .collect();
        for p in pending {
            self.evict(p, FailReason::Shutdown, &mut out);
        }
        out
    }

    /// A payload taken by [`poll`](Self::poll) will never be settled (its
    /// send was abandoned at stop): stored or dropped like [`drain`](Self::drain).
    pub fn abandon(&mut self, payload: P) -> Vec<Action<P>> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let mut out = Vec::new();
        self.evict(payload, FailReason::Shutdown, &mut out);
        out
    }

    /// Payloads queued in memory.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Bytes queued in memory.
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes()
    }

    /// Payloads being sent.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Stored payloads waiting on disk (not loaded).
    pub fn stored(&self) -> usize {
        self.on_disk.len()
    }

    /// Bytes of every stored file.
    pub fn stored_bytes(&self) -> usize {
        self.disk_bytes
    }

    /// Nothing in memory, in flight or being loaded (stored files may
    /// remain).
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight == 0 && !self.loading && self.reloaded.is_none()
    }

    /// Nothing left anywhere.
    pub fn is_empty(&self) -> bool {
        self.is_idle() && self.on_disk.is_empty()
    }

    /// Consecutive errors the backoff counts now.
    pub fn errors(&self) -> u32 {
        self.backoff.errors()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    struct P {
        n: u32,
        size: usize,
        stored: Option<StoreId>,
    }

    impl Parcel for P {
        fn bytes(&self) -> usize {
            self.size
        }
        fn points(&self) -> u64 {
            u64::from(self.n)
        }
        fn stored(&self) -> Option<StoreId> {
            self.stored
        }
        fn set_stored(&mut self, id: StoreId) {
            self.stored = Some(id);
        }
    }

    fn p(n: u32) -> P {
        P {
            n,
            size: 10,
            stored: None,
        }
    }

    fn state(queue: usize, store: usize, slots: usize) -> Delivery<P> {
        Delivery::new(
            DeliveryConfig {
                queue_max_bytes: queue,
                store_max_bytes: store,
                max_in_flight: slots,
            },
            Backoff::new(Duration::from_secs(2), Duration::from_secs(64), 1),
        )
    }

    const T0: Duration = Duration::from_secs(100);

    /// The shell's side of a [`Action::Store`]: the file is written.
    fn confirm(d: &mut Delivery<P>, acts: Vec<Action<P>>) -> Vec<Action<P>> {
        for a in &acts {
            if let Action::Store { id, payload } = a {
                d.written(StoredEntry {
                    id: *id,
                    bytes: payload.size,
                    points: payload.points(),
                });
            }
        }
        acts
    }

    fn sent(d: &mut Delivery<P>, now: Duration) -> P {
        match d.poll(now) {
            Next::Send(p) => p,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn sends_in_order_within_the_slots() {
        let mut d = state(100, 0, 2);
        for i in 1..=3 {
            assert!(d.push(p(i)).is_empty());
        }
        assert_eq!(sent(&mut d, T0).n, 1);
        assert_eq!(sent(&mut d, T0).n, 2);
        assert_eq!(d.poll(T0), Next::Idle, "both slots busy");
        assert!(d.settle(p(1), Settle::Sent, T0).is_empty());
        assert_eq!(sent(&mut d, T0).n, 3);
    }

    #[test]
    fn a_retry_blocks_the_endpoint_for_the_backoff() {
        let mut d = state(100, 0, 4);
        d.push(p(1));
        d.push(p(2));
        let one = sent(&mut d, T0);
        assert!(d.settle(one, Settle::Retry, T0).is_empty());
        assert_eq!(d.errors(), 1);
        // First error: 2 s × 2 = 4 s, jittered into [2 s, 4 s).
        let Next::WaitUntil(until) = d.poll(T0) else {
            panic!("blocked")
        };
        assert!(until >= T0 + Duration::from_secs(2) && until < T0 + Duration::from_secs(4));
        assert_eq!(
            d.poll(until - Duration::from_millis(1)),
            Next::WaitUntil(until)
        );
        // Then in order: the untouched payload first, the retried one after.
        assert_eq!(sent(&mut d, until).n, 2);
        assert_eq!(sent(&mut d, until).n, 1);
        d.settle(p(2), Settle::Sent, until);
        assert_eq!(d.errors(), 0);
    }

    #[test]
    fn overflow_is_dropped_oldest_first_without_a_store() {
        let mut d = state(30, 0, 1);
        let mut dropped = Vec::new();
        for i in 1..=5 {
            dropped.extend(d.push(p(i)));
        }
        assert_eq!(
            dropped,
            [
                Action::Drop {
                    payload: p(1),
                    reason: FailReason::QueueFull
                },
                Action::Drop {
                    payload: p(2),
                    reason: FailReason::QueueFull
                }
            ]
        );
        assert_eq!(d.queued(), 3);
    }

    #[test]
    fn overflow_spills_to_the_store_and_comes_back_when_memory_is_empty() {
        let mut d = state(20, 25, 1);
        let mut acts = Vec::new();
        for i in 1..=4 {
            let a = d.push(p(i));
            acts.extend(confirm(&mut d, a));
        }
        // 1 and 2 spilled as files 1 and 2.
        let ids: Vec<_> = acts
            .iter()
            .map(|a| match a {
                Action::Store { id, payload } => (*id, payload.n),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, [(1, 1), (2, 2)]);
        // A third spill exceeds the store (25 bytes): file 1 is deleted.
        let acts = d.push(p(5));
        let acts = confirm(&mut d, acts);
        assert!(matches!(
            acts[0],
            Action::DropStored {
                entry: StoredEntry { id: 1, .. },
                reason: FailReason::StoreFull
            }
        ));
        assert!(matches!(acts[1], Action::Store { id: 3, .. }));
        // Memory first (4, 5), then the store, oldest first.
        for want in [4, 5] {
            let got = sent(&mut d, T0);
            assert_eq!(got.n, want);
            assert!(d.settle(got, Settle::Sent, T0).is_empty());
        }
        let Next::Load(e) = d.poll(T0) else { panic!() };
        assert_eq!(e.id, 2);
        assert_eq!(d.poll(T0), Next::Idle, "one load at a time");
        assert!(
            d.loaded(
                e,
                Some(P {
                    n: 2,
                    size: 10,
                    stored: Some(2)
                })
            )
            .is_empty()
        );
        let got = sent(&mut d, T0);
        // Delivered: its file is removed.
        assert_eq!(d.settle(got, Settle::Sent, T0), [Action::Remove { id: 2 }]);
        let Next::Load(e) = d.poll(T0) else { panic!() };
        assert_eq!(e.id, 3);
        // An unreadable file is forgotten.
        assert!(d.loaded(e, None).is_empty());
        assert!(d.is_empty());
        assert_eq!(d.stored_bytes(), 0);
    }

    #[test]
    fn stop_stores_what_is_pending_or_drops_it_counted() {
        let mut d = state(100, 0, 1);
        d.push(p(1));
        d.push(p(2));
        let taken = sent(&mut d, T0);
        let acts: Vec<_> = d.abandon(taken).into_iter().chain(d.drain()).collect();
        assert_eq!(acts.len(), 2);
        assert!(acts.iter().all(|a| matches!(
            a,
            Action::Drop {
                reason: FailReason::Shutdown,
                ..
            }
        )));
        let mut d = state(100, 1000, 1);
        d.push(p(1));
        d.push(p(2));
        let acts = d.drain();
        assert!(acts.iter().all(|a| matches!(a, Action::Store { .. })));
        assert_eq!(d.stored(), 0, "listed only once written");
        confirm(&mut d, acts);
        assert_eq!(d.stored(), 2);
    }

    #[test]
    fn restored_files_are_resent_with_fresh_ids_after_them() {
        let mut d = state(100, 1000, 1);
        let e = |id| StoredEntry {
            id,
            bytes: 10,
            points: 1,
        };
        assert!(d.restore(vec![e(7), e(3)]).is_empty());
        let Next::Load(first) = d.poll(T0) else {
            panic!()
        };
        assert_eq!(first.id, 3);
        d.loaded(first, None);
        // New spills number after the highest restored id.
        d.drain();
        d.push(p(1));
        let acts = d.drain();
        assert!(matches!(acts[..], [Action::Store { id: 8, .. }]));
        // A restored store larger than allowed loses its oldest files.
        let mut d = state(100, 15, 1);
        let acts = d.restore(vec![e(1), e(2)]);
        assert!(matches!(
            acts[..],
            [Action::DropStored {
                entry: StoredEntry { id: 1, .. },
                ..
            }]
        ));
    }

    #[test]
    fn a_stored_payload_larger_than_the_queue_still_goes_out() {
        let mut d = state(5, 100, 1);
        let acts = d.push(p(1));
        let acts = confirm(&mut d, acts);
        assert!(matches!(acts[..], [Action::Store { id: 1, .. }]));
        let Next::Load(e) = d.poll(T0) else { panic!() };
        assert!(
            d.loaded(
                e,
                Some(P {
                    n: 1,
                    size: 10,
                    stored: Some(1)
                })
            )
            .is_empty()
        );
        let got = sent(&mut d, T0);
        assert_eq!(d.settle(got, Settle::Sent, T0), [Action::Remove { id: 1 }]);
        assert!(d.is_empty());
    }

    #[test]
    fn a_loaded_payload_evicted_again_keeps_its_file() {
        let mut d = state(10, 100, 1);
        d.restore(vec![StoredEntry {
            id: 5,
            bytes: 10,
            points: 1,
        }]);
        let Next::Load(e) = d.poll(T0) else { panic!() };
        d.loaded(
            e,
            Some(P {
                n: 9,
                size: 10,
                stored: Some(5),
            }),
        );
        // Stopping before it is sent: no rewrite, the file stays.
        assert!(matches!(d.drain()[..], [Action::Unloaded { .. }]));
        assert_eq!(d.stored(), 1);
        assert_eq!(d.stored_bytes(), 10);
    }
}
