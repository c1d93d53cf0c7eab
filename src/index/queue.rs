//! Back-pressure between the parse threads and tantivy's indexing threads.
//!
//! `IndexWriter::add_document` queues a document for tantivy's worker threads in a channel that
//! holds up to 10,000 documents. Parsing is faster than indexing, so on a large vault that queue
//! fills: 10,000 documents of Markdown, plain text and stored JSON were 100–200 MB, most of the
//! peak memory of a full index, and varied run to run with thread timing. Here each queued
//! document holds a permit for its size from a byte budget; a parse thread waits for room
//! before it queues, and the permit is returned when tantivy has indexed the document and drops
//! it. Peak memory becomes the writer's budget plus this one.

use std::sync::{Arc, Condvar, Mutex};

use tantivy::TantivyDocument;
use tantivy::schema::document::Document;

/// A byte budget for documents waiting to be indexed.
#[derive(Debug)]
pub(crate) struct QueueBudget {
    limit: u64,
    state: Mutex<BudgetState>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct BudgetState {
    /// Bytes held by permits.
    queued: u64,
    /// Threads waiting for room (tests watch it to know a thread is blocked).
    waiting: usize,
}

impl QueueBudget {
    pub(crate) fn new(limit: u64) -> Arc<QueueBudget> {
        Arc::new(QueueBudget {
            limit,
            state: Mutex::new(BudgetState::default()),
            freed: Condvar::new(),
        })
    }

    /// Waits until `bytes` fit in the budget (or nothing is queued: one document larger than
    /// the whole budget still goes through, alone), then takes them.
    pub(crate) fn acquire(self: &Arc<Self>, bytes: u64) -> Permit {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.queued > 0 && state.queued + bytes > self.limit {
            state.waiting += 1;
            state = self.freed.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiting -= 1;
        }
        state.queued += bytes;
        Permit {
            budget: Arc::clone(self),
            bytes,
        }
    }

    /// Bytes currently queued.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> u64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).queued
    }

    /// Threads blocked in [`QueueBudget::acquire`].
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).waiting
    }
}

/// A share of the budget, returned on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    budget: Arc<QueueBudget>,
    bytes: u64,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.budget.state.lock().unwrap_or_else(|e| e.into_inner());
        state.queued -= self.bytes;
        self.budget.freed.notify_all();
    }
}

/// A document with its permit: what the writer's queue holds.
#[derive(Debug)]
pub(crate) struct QueuedDoc {
    doc: TantivyDocument,
    _permit: Permit,
}

impl QueuedDoc {
    /// Takes room for `doc` from `budget`, waiting for it if need be.
    pub(crate) fn new(doc: TantivyDocument, budget: &Arc<QueueBudget>) -> QueuedDoc {
        let bytes = doc_bytes(&doc);
        QueuedDoc {
            _permit: budget.acquire(bytes),
            doc,
        }
    }
}

/// The heap bytes a document holds, roughly: its text and bytes values plus a fixed overhead
/// per value.
fn doc_bytes(doc: &TantivyDocument) -> u64 {
    use tantivy::schema::Value;
    doc.field_values()
        .map(|(_, value)| {
            let payload = value
                .as_str()
                .map(str::len)
                .or_else(|| value.as_bytes().map(<[u8]>::len))
                .unwrap_or(0);
            payload as u64 + 16
        })
        .sum::<u64>()
        + 64
}

impl Document for QueuedDoc {
    type Value<'a> = <TantivyDocument as Document>::Value<'a>;
    type FieldsValuesIter<'a> = <TantivyDocument as Document>::FieldsValuesIter<'a>;

    fn iter_fields_and_values(&self) -> Self::FieldsValuesIter<'_> {
        self.doc.iter_fields_and_values()
    }

    fn into_tantivy_document(self) -> TantivyDocument {
        self.doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_budget_waits_until_a_permit_is_returned() {
        let budget = QueueBudget::new(100);
        let first = budget.acquire(60);
        let waiter = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || {
                let _second = budget.acquire(60);
                budget.queued()
            })
        };
        // The waiter cannot take its 60 bytes while the first 60 are held: it blocks.
        while budget.waiting() == 0 {
            std::thread::yield_now();
        }
        assert!(!waiter.is_finished());
        assert_eq!(budget.queued(), 60);
        drop(first);
        assert_eq!(waiter.join().unwrap(), 60);
        assert_eq!(budget.queued(), 0);
    }

    #[test]
    fn a_document_over_the_whole_budget_goes_through_alone() {
        let budget = QueueBudget::new(10);
        let big = budget.acquire(1_000);
        assert_eq!(budget.queued(), 1_000);
        drop(big);
        let small = budget.acquire(5);
        assert_eq!(budget.queued(), 5);
        drop(small);
    }
}
