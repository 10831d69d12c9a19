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

/// What [`OffsetTracker::consumed`] made of an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consumed {
    /// Tracked: hand the record to the producer.
    Tracked,
    /// The offset is at or below one consumed before (source truncated, topic recreated,
    /// offset reset): the caller must wait until [`OffsetTracker::settled`], then call
    /// [`OffsetTracker::reset`] and mirror the record.
    Backwards,
}

#[derive(Debug, Default)]
pub struct OffsetTracker {
    /// Consumed offsets not yet released, in consume (= offset) order. The front is never Done.
    pending: VecDeque<(i64, State)>,
    /// The offset after the last consumed record.
    next: Option<i64>,
    /// The last offset committed for this partition.
    committed: Option<i64>,
    /// The consumer's position when the partition was assigned (`None`: not valid then).
    assigned_at: Option<i64>,
    /// A record failed for good before an offset reset: nothing may be committed any more.
    blocked: bool,
}

impl OffsetTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker for a partition just assigned, the consumer's position then being `position`.
    /// A position that later differs from it moved during this assignment.
    pub fn assigned(position: Option<i64>) -> Self {
        Self {
            assigned_at: position.filter(|p| *p >= 0),
            ..Self::default()
        }
    }

    /// Records that `offset` was consumed and is about to be handed to the producer. Offsets
    /// must increase: one at or below the last consumed is not tracked ([`Consumed::Backwards`]).
    pub fn consumed(&mut self, offset: i64) -> Consumed {
        if self.next.is_some_and(|n| offset < n) {
            return Consumed::Backwards;
        }
        self.pending.push_back((offset, State::InFlight));
        self.next = Some(offset + 1);
        Consumed::Tracked
    }

    /// Starts again at `offset` after the partition's offsets went backwards; call once
    /// [`settled`](Self::settled). The last commit is forgotten (a lower commit is now right); a
    /// record that failed for good keeps blocking every commit. Then tracks `offset`. Returns
    /// how many acknowledged entries were dropped (held behind a failed one; see `done`).
    pub fn reset(&mut self, offset: i64) -> usize {
        if self.has_failed() {
            self.blocked = true;
        }
        // Settled: what is left is Failed entries (and Done ones behind them).
        let dropped = self
            .pending
            .iter()
            .filter(|(_, s)| *s == State::Done)
            .count();
        self.pending.clear();
        self.next = None;
        self.committed = None;
        self.consumed(offset);
        dropped
    }

    /// Sets the consumer's position at assignment (see [`assigned`](Self::assigned)).
    pub fn set_assigned_at(&mut self, position: Option<i64>) {
        self.assigned_at = position.filter(|p| *p >= 0);
    }

    /// Nothing at all may be committed any more (a record below the new offsets was lost).
    pub fn block(&mut self) {
        self.blocked = true;
    }

    /// The target acknowledged `offset` (or it was skipped after a send failure). Returns how
    /// many entries left the front of the tracker (each held one queue.size slot).
    pub fn done(&mut self, offset: i64) -> usize {
        self.set(offset, State::Done);
        let mut popped = 0;
        while self.pending.front().is_some_and(|(_, s)| *s == State::Done) {
            self.pending.pop_front();
            popped += 1;
        }
        popped
    }

    /// `offset` failed for good: nothing at or after it will be committed. True if it was in
    /// flight (its queue.size slot is the caller's to release).
    pub fn failed(&mut self, offset: i64) -> bool {
        self.set(offset, State::Failed)
    }

    fn set(&mut self, offset: i64, state: State) -> bool {
        if let Ok(i) = self.pending.binary_search_by_key(&offset, |(o, _)| *o) {
            if self.pending[i].1 == State::InFlight {
                self.pending[i].1 = state;
                return true;
            }
        }
        false
    }

    /// Records consumed and neither acknowledged nor failed.
    pub fn in_flight(&self) -> usize {
        self.pending
            .iter()
            .filter(|(_, s)| *s == State::InFlight)
            .count()
    }

    /// Entries held in memory (in flight, or acknowledged behind one that is not).
    pub fn held(&self) -> usize {
        self.pending.len()
    }

    /// True when no record is waiting for the target (failed ones do not wait).
    pub fn settled(&self) -> bool {
        self.pending.iter().all(|(_, s)| *s != State::InFlight)
    }

    pub fn has_failed(&self) -> bool {
        self.pending.iter().any(|(_, s)| *s == State::Failed)
    }

    /// The offset that may be committed: the first unreleased offset, or when none is pending
    /// the next offset to consume (`position`, the consumer's, if it is further).
    ///
    /// Before any record was consumed, the position alone is trusted only if it moved during
    /// this assignment (it differs from the position at assignment): only transaction markers
    /// and aborted records move it without handing a record over, and a partition holding
    /// nothing else must still be committed.
    pub fn committable(&self, position: Option<i64>) -> Option<i64> {
        if self.blocked {
            return None;
        }
        match self.pending.front() {
            Some((offset, _)) => Some(*offset),
            None => match self.next {
                Some(n) => Some(position.map_or(n, |p| n.max(p))),
                None => position.filter(|p| *p >= 0 && Some(*p) != self.assigned_at),
            },
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
        let t = OffsetTracker::assigned(Some(7));
        assert_eq!(t.committable(None), None);
        assert_eq!(
            t.committable(Some(7)),
            None,
            "a position that did not move is not trusted"
        );
        assert!(t.settled());
    }

    #[test]
    fn commit_stops_at_first_unacked() {
        let mut t = OffsetTracker::new();
        for o in 10..15 {
            assert_eq!(t.consumed(o), Consumed::Tracked);
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
    fn offsets_going_backwards_are_reported_not_dropped() {
        let mut t = OffsetTracker::new();
        t.consumed(5);
        assert_eq!(t.consumed(4), Consumed::Backwards);
        assert_eq!(t.consumed(5), Consumed::Backwards);
        assert_eq!(t.in_flight(), 1, "nothing tracked until the reset");
    }

    #[test]
    fn reset_after_truncation_tracks_lower_offsets_and_commits_them() {
        let mut t = OffsetTracker::new();
        for o in 100..103 {
            t.consumed(o);
        }
        for o in 100..103 {
            t.done(o);
        }
        t.mark_committed(103);
        // The source was truncated (or the topic recreated): offsets start again at 10.
        assert_eq!(t.consumed(10), Consumed::Backwards);
        assert!(t.settled());
        t.reset(10);
        assert_eq!(t.in_flight(), 1, "10 is tracked");
        assert_eq!(
            t.committable(Some(103)),
            Some(10),
            "not past the new record"
        );
        assert_eq!(t.consumed(11), Consumed::Tracked);
        t.done(10);
        t.done(11);
        assert_eq!(
            t.to_commit(Some(12)),
            Some(12),
            "a commit below the old one is allowed after the reset"
        );
    }

    #[test]
    fn reset_keeps_a_failed_record_blocking() {
        let mut t = OffsetTracker::new();
        t.consumed(7);
        t.consumed(8);
        t.failed(7);
        t.done(8);
        assert!(t.settled());
        t.reset(2);
        t.done(2);
        assert_eq!(
            t.committable(Some(3)),
            None,
            "7 failed: never committed past"
        );
        assert_eq!(t.to_commit(Some(3)), None);
    }

    #[test]
    fn position_moved_by_markers_alone_is_committed() {
        // Only aborted records and markers (offsets 0..=5): no record is handed over, the
        // consumer's position moves from 0 to 6.
        let t = OffsetTracker::assigned(None);
        assert_eq!(t.committable(Some(6)), Some(6));
        let t = OffsetTracker::assigned(Some(0));
        assert_eq!(t.committable(Some(0)), None, "not moved: nothing new");
        assert_eq!(t.committable(Some(6)), Some(6));
        // Restart at a commit marker: the position moves past it.
        let mut t = OffsetTracker::assigned(None);
        t.set_committed(9);
        assert_eq!(t.to_commit(Some(9)), None);
        assert_eq!(t.to_commit(Some(10)), Some(10));
        assert_eq!(
            t.committable(Some(-1001)),
            None,
            "invalid positions are not"
        );
    }

    #[test]
    fn acked_entries_leave_the_front_and_are_counted() {
        let mut t = OffsetTracker::new();
        for o in 0..4 {
            t.consumed(o);
        }
        assert_eq!(t.done(1), 0);
        assert_eq!(t.done(2), 0);
        assert_eq!(t.held(), 4, "acked entries behind 0 are still held");
        assert_eq!(t.done(0), 3);
        assert_eq!(t.held(), 1);
        assert_eq!(t.done(3), 1);
        assert!(!t.failed(99));
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
