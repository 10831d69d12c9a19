//! The offset tracker of one source partition: which consumed offsets are still in flight to the
//! target, and which offset may be committed.
//!
//! The rule that makes the mirror lossless: the committable offset is the first offset that is
//! not yet acknowledged by the target (or that failed for good), so a commit never passes a
//! record the target does not have. When nothing is pending, it is the next offset to consume —
//! the consumer's position when the caller knows it, which librdkafka moves past transaction
//! markers, so a caught-up transactional partition commits its end offset.

use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    InFlight,
    Done,
    /// Failed for good and not skipped: blocks the committable offset for ever.
    Failed,
}

#[derive(Debug, Default)]
pub struct OffsetTracker {
    /// Consumed offsets not yet released, in consume (= offset) order. The front is never Done.
    pending: VecDeque<(i64, State)>,
    /// The offset after the last consumed record.
    next: Option<i64>,
    /// The last offset committed for this partition.
    committed: Option<i64>,
}

impl OffsetTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `offset` was consumed and handed to the producer. Offsets must increase;
    /// an offset at or below the last consumed one is a re-delivery and is ignored (false).
    pub fn consumed(&mut self, offset: i64) -> bool {
        if self.next.is_some_and(|n| offset < n) {
            return false;
        }
        self.pending.push_back((offset, State::InFlight));
        self.next = Some(offset + 1);
        true
    }

    /// The target acknowledged `offset` (or it was skipped after a send failure).
    pub fn done(&mut self, offset: i64) {
        self.set(offset, State::Done);
        while self.pending.front().is_some_and(|(_, s)| *s == State::Done) {
            self.pending.pop_front();
        }
    }

    /// `offset` failed for good: nothing at or after it will be committed.
    pub fn failed(&mut self, offset: i64) {
        self.set(offset, State::Failed);
    }

    fn set(&mut self, offset: i64, state: State) {
        if let Ok(i) = self.pending.binary_search_by_key(&offset, |(o, _)| *o) {
            if self.pending[i].1 == State::InFlight {
                self.pending[i].1 = state;
            }
        }
    }

    /// Records consumed and neither acknowledged nor failed.
    pub fn in_flight(&self) -> usize {
        self.pending
            .iter()
            .filter(|(_, s)| *s == State::InFlight)
            .count()
    }

    /// True when no record is waiting for the target (failed ones do not wait).
    pub fn settled(&self) -> bool {
        self.pending.iter().all(|(_, s)| *s != State::InFlight)
    }

    pub fn has_failed(&self) -> bool {
        self.pending.iter().any(|(_, s)| *s == State::Failed)
    }

    /// The offset that may be committed: the first unreleased offset, or when none is pending
    /// the next offset to consume (`position`, the consumer's, if it is further). `None` until
    /// a record was consumed: a position from before this assignment could be stale.
    pub fn committable(&self, position: Option<i64>) -> Option<i64> {
        match self.pending.front() {
            Some((offset, _)) => Some(*offset),
            None => self.next.map(|n| position.map_or(n, |p| n.max(p))),
        }
    }

    /// The committable offset if it is past the last commit.
    pub fn to_commit(&self, position: Option<i64>) -> Option<i64> {
        self.committable(position)
            .filter(|c| self.committed.is_none_or(|done| *c > done))
    }

    pub fn committed(&self) -> Option<i64> {
        self.committed
    }

    /// Records a successful commit of `offset`.
    pub fn mark_committed(&mut self, offset: i64) {
        if self.committed.is_none_or(|c| offset > c) {
            self.committed = Some(offset);
        }
    }

    /// Records an offset known to be committed already (from the group, at assignment), so it
    /// is not committed again.
    pub fn set_committed(&mut self, offset: i64) {
        self.mark_committed(offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_consumed_nothing_to_commit() {
        let t = OffsetTracker::new();
        assert_eq!(t.committable(None), None);
        assert_eq!(
            t.committable(Some(7)),
            None,
            "a position alone is not trusted"
        );
        assert!(t.settled());
    }

    #[test]
    fn commit_stops_at_first_unacked() {
        let mut t = OffsetTracker::new();
        for o in 10..15 {
            assert!(t.consumed(o));
        }
        assert_eq!(t.committable(None), Some(10));
        t.done(11);
        t.done(12);
        assert_eq!(t.committable(None), Some(10), "10 is still in flight");
        assert_eq!(t.in_flight(), 3);
        t.done(10);
        assert_eq!(t.committable(None), Some(13));
        t.done(14);
        assert_eq!(t.committable(None), Some(13));
        t.done(13);
        assert_eq!(t.committable(None), Some(15));
        assert!(t.settled());
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn gaps_in_offsets_are_fine() {
        // Compacted topics and transaction markers leave gaps.
        let mut t = OffsetTracker::new();
        t.consumed(3);
        t.consumed(7);
        t.consumed(8);
        t.done(7);
        assert_eq!(t.committable(None), Some(3));
        t.done(3);
        assert_eq!(t.committable(None), Some(8));
        t.done(8);
        assert_eq!(t.committable(None), Some(9));
    }

    #[test]
    fn position_past_markers_is_used_only_when_nothing_is_pending() {
        let mut t = OffsetTracker::new();
        t.consumed(0);
        t.consumed(1);
        // The consumer has skipped a commit marker at 2.
        assert_eq!(t.committable(Some(3)), Some(0));
        t.done(0);
        t.done(1);
        assert_eq!(t.committable(Some(3)), Some(3));
        assert_eq!(t.committable(None), Some(2));
        // A stale position never moves the commit backwards.
        assert_eq!(t.committable(Some(1)), Some(2));
    }

    #[test]
    fn failed_record_blocks_commits_for_ever() {
        let mut t = OffsetTracker::new();
        for o in 0..4 {
            t.consumed(o);
        }
        t.done(0);
        t.failed(1);
        t.done(2);
        t.done(3);
        assert_eq!(t.committable(Some(4)), Some(1));
        assert!(t.settled());
        assert!(t.has_failed());
        // A late ack for the failed offset does not release it.
        t.done(1);
        assert_eq!(t.committable(Some(4)), Some(1));
    }

    #[test]
    fn skipped_record_is_released() {
        let mut t = OffsetTracker::new();
        t.consumed(0);
        t.consumed(1);
        t.done(1);
        t.done(0); // skipped after a send failure with abort.on.send.failure=false
        assert_eq!(t.committable(None), Some(2));
    }

    #[test]
    fn only_advances_are_committed() {
        let mut t = OffsetTracker::new();
        t.set_committed(5);
        assert_eq!(t.to_commit(Some(5)), None);
        t.consumed(5);
        assert_eq!(t.to_commit(None), None, "5 is in flight: nothing new");
        t.done(5);
        assert_eq!(t.to_commit(None), Some(6));
        t.mark_committed(6);
        assert_eq!(t.to_commit(None), None);
        t.mark_committed(4);
        assert_eq!(t.committed(), Some(6), "never moves back");
    }

    #[test]
    fn redelivered_offsets_are_ignored() {
        let mut t = OffsetTracker::new();
        t.consumed(5);
        assert!(!t.consumed(4));
        assert!(!t.consumed(5));
        assert_eq!(t.in_flight(), 1);
    }

    #[test]
    fn unknown_acks_are_ignored() {
        let mut t = OffsetTracker::new();
        t.consumed(5);
        t.done(99);
        t.failed(98);
        assert_eq!(t.committable(None), Some(5));
        assert!(!t.has_failed());
    }
}
