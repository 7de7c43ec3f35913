//! The bounded queue of payloads waiting for a (first or
//! next) attempt, as a pure type: a FIFO capped at a number of bytes
//! (`forwarder_retry_queue_payloads_max_size`) that drops its **oldest**
//! entries to make room, and reports what it dropped.

use std::collections::VecDeque;

/// A FIFO of `T`s, each with a size, holding at most `max_bytes` in
/// total.
#[derive(Debug)]
pub struct BoundedQueue<T> {
    items: VecDeque<(T, usize)>,
    bytes: usize,
    max_bytes: usize,
}

impl<T> BoundedQueue<T> {
    /// An empty queue holding at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            items: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Appends `item` of `size` bytes; the oldest entries are dropped (and
    /// returned) until it fits. An item larger than the whole queue is
    /// itself returned as dropped and nothing else is touched.
    pub fn push(&mut self, item: T, size: usize) -> Vec<T> {
        if size > self.max_bytes {
            return vec![item];
        }
        let mut dropped = Vec::new();
        while self.bytes + size > self.max_bytes {
            match self.items.pop_front() {
                Some((old, n)) => {
                    self.bytes -= n;
                    dropped.push(old);
                }
                None => break,
            }
        }
        self.bytes += size;
        self.items.push_back((item, size));
        dropped
    }

    /// Takes the oldest entry.
    pub fn pop(&mut self) -> Option<T> {
        let (item, n) = self.items.pop_front()?;
        self.bytes -= n;
        Some(item)
    }

    /// Takes every entry, oldest first.
    pub fn drain(&mut self) -> Vec<T> {
        self.bytes = 0;
        self.items.drain(..).map(|(t, _)| t).collect()
    }

    /// Entries queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_within_the_limit() {
        let mut q = BoundedQueue::new(10);
        assert!(q.push(1, 3).is_empty());
        assert!(q.push(2, 3).is_empty());
        assert_eq!((q.len(), q.bytes()), (2, 6));
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn drops_the_oldest_when_full() {
        // As the trace writer's sender: capacity 4, push 1..=8 → 5..=8 remain.
        let mut q = BoundedQueue::new(4);
        let mut dropped = Vec::new();
        for i in 1..=8 {
            dropped.extend(q.push(i, 1));
        }
        assert_eq!(dropped, [1, 2, 3, 4]);
        assert_eq!(q.drain(), [5, 6, 7, 8]);
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn makes_room_for_a_big_item() {
        let mut q = BoundedQueue::new(10);
        for i in 0..5 {
            assert!(q.push(i, 2).is_empty());
        }
        assert_eq!(q.push(9, 5), [0, 1, 2]);
        assert_eq!(q.bytes(), 9);
        assert_eq!(q.drain(), [3, 4, 9]);
    }

    #[test]
    fn an_item_larger_than_the_queue_is_dropped_itself() {
        let mut q = BoundedQueue::new(10);
        assert!(q.push(1, 4).is_empty());
        assert_eq!(q.push(2, 11), [2]);
        assert_eq!(q.drain(), [1]);
    }
}
