//! When the sync thread acts: commit timing and the periodic reconcile, as a pure state machine.
//!
//! The caller passes the time in (`now`), so the policy is tested with made-up instants and no
//! sleeping. Pending changes are committed once no change arrived for `quiet`, at the latest
//! `max_delay` after the first of them; the periodic reconcile (or polling) runs every
//! `periodic` when nothing is pending.

use std::time::{Duration, Instant};

use crate::config::CommitPolicy;
use crate::index::writer::CommitTrigger;

/// The timing state of the sync loop.
#[derive(Debug)]
pub(crate) struct Schedule {
    commit: CommitPolicy,
    /// The reconcile (or poll) interval; `None` when off.
    periodic: Option<Duration>,
    /// When the oldest uncommitted change arrived.
    first_pending: Option<Instant>,
    last_change: Instant,
    last_reconcile: Instant,
}

/// What is due now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Commit what is pending, for this reason.
    Commit(CommitTrigger),
    /// Run the periodic reconcile.
    Reconcile,
}

impl Schedule {
    pub(crate) fn new(commit: CommitPolicy, periodic: Option<Duration>, now: Instant) -> Schedule {
        Schedule {
            commit,
            periodic: periodic.filter(|interval| !interval.is_zero()),
            first_pending: None,
            last_change: now,
            last_reconcile: now,
        }
    }

    /// The reconcile (or poll) interval changes, e.g. when the watcher falls back to polling.
    pub(crate) fn set_periodic(&mut self, periodic: Option<Duration>) {
        self.periodic = periodic.filter(|interval| !interval.is_zero());
    }

    /// Work arrived (a change, or a rescan request): it is committed after the quiet period.
    /// Returns [`CommitTrigger::BatchSize`] when `pending` changes are enough to commit now.
    pub(crate) fn changed(&mut self, now: Instant, pending: usize) -> Option<CommitTrigger> {
        self.last_change = now;
        self.first_pending.get_or_insert(now);
        (pending >= self.commit.max_batch).then_some(CommitTrigger::BatchSize)
    }

    /// Everything pending was handled.
    pub(crate) fn flushed(&mut self) {
        self.first_pending = None;
    }

    /// A reconcile finished.
    pub(crate) fn reconciled(&mut self, now: Instant) {
        self.last_reconcile = now;
    }

    /// How long the loop may wait for the next message before something is due.
    pub(crate) fn wait(&self, now: Instant) -> Duration {
        if let Some(first) = self.first_pending {
            let quiet_at = self.last_change + self.commit.quiet;
            let latest_at = first + self.commit.max_delay;
            return quiet_at.min(latest_at).saturating_duration_since(now);
        }
        match self.periodic {
            Some(interval) => (self.last_reconcile + interval).saturating_duration_since(now),
            None => Duration::from_secs(3600),
        }
    }

    /// What is due at `now`, if anything.
    pub(crate) fn due(&self, now: Instant) -> Option<Due> {
        if let Some(first) = self.first_pending {
            if now >= first + self.commit.max_delay {
                return Some(Due::Commit(CommitTrigger::MaxDelay));
            }
            if now >= self.last_change + self.commit.quiet {
                return Some(Due::Commit(CommitTrigger::Quiet));
            }
            return None;
        }
        let interval = self.periodic?;
        (now >= self.last_reconcile + interval).then_some(Due::Reconcile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> CommitPolicy {
        CommitPolicy {
            quiet: 30 * MS,
            max_delay: 250 * MS,
            max_batch: 3,
        }
    }

    #[test]
    fn a_lone_change_is_committed_after_the_quiet_period() {
        let start = Instant::now();
        let mut schedule = Schedule::new(policy(), None, start);
        assert_eq!(schedule.changed(start, 1), None);
        assert_eq!(schedule.wait(start), 30 * MS);
        assert_eq!(schedule.due(start + 29 * MS), None);
        assert_eq!(
            schedule.due(start + 30 * MS),
            Some(Due::Commit(CommitTrigger::Quiet))
        );
        schedule.flushed();
        assert_eq!(schedule.due(start + 40 * MS), None);
        assert_eq!(schedule.wait(start + 40 * MS), Duration::from_secs(3600));
    }

    #[test]
    fn a_steady_stream_is_committed_at_the_latest_after_max_delay() {
        let start = Instant::now();
        let mut schedule = Schedule::new(policy(), None, start);
        // A change every 20 ms never leaves 30 ms of quiet.
        let mut now = start;
        for _ in 0..12 {
            schedule.changed(now, 1);
            assert_eq!(schedule.due(now), None);
            now += 20 * MS;
        }
        // 240 ms in: the next deadline is the max delay, 10 ms away, not the quiet period.
        assert_eq!(now - start, 240 * MS);
        assert_eq!(schedule.wait(now), 10 * MS);
        assert_eq!(
            schedule.due(start + 250 * MS),
            Some(Due::Commit(CommitTrigger::MaxDelay))
        );
    }

    #[test]
    fn a_full_batch_commits_at_once() {
        let start = Instant::now();
        let mut schedule = Schedule::new(policy(), None, start);
        assert_eq!(schedule.changed(start, 2), None);
        assert_eq!(schedule.changed(start, 3), Some(CommitTrigger::BatchSize));
    }

    #[test]
    fn the_periodic_reconcile_runs_only_when_nothing_is_pending() {
        let start = Instant::now();
        let mut schedule = Schedule::new(policy(), Some(Duration::from_secs(300)), start);
        let later = start + Duration::from_secs(300);
        assert_eq!(schedule.wait(start), Duration::from_secs(300));
        assert_eq!(schedule.due(later), Some(Due::Reconcile));
        // A pending change takes precedence; the reconcile waits.
        schedule.changed(later, 1);
        assert_eq!(schedule.due(later), None);
        schedule.flushed();
        schedule.reconciled(later);
        assert_eq!(schedule.due(later + Duration::from_secs(299)), None);
        // Off (zero) means never.
        schedule.set_periodic(Some(Duration::ZERO));
        assert_eq!(schedule.due(later + Duration::from_secs(9999)), None);
    }
}
