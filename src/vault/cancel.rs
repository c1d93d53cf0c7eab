//! The stop flag that long work checks: the walk between entries, indexing between files.
//!
//! A shutdown (Ctrl-C, SIGTERM, the end of a stdio session) raises it; the walk then stops, the
//! parse threads skip the files they have not started, and the indexer commits what it has, so
//! the next start resumes from there. A raised flag is never lowered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A shared, one-way stop flag. Clones share the flag.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub(crate) fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks every holder to stop.
    pub(crate) fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = Cancel::new();
        let b = a.clone();
        assert!(!b.is_cancelled());
        a.cancel();
        assert!(b.is_cancelled());
    }
}
