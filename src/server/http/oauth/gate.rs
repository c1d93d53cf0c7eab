//! The consent form's passphrase check: argon2 off the async runtime with bounded concurrency,
//! guarded by back-off per client address and overall.
//!
//! The first few failures are free (typos); after that each failure makes the next attempt wait
//! twice as long, and a long enough run of failures locks the form for 15 minutes. A waiting or
//! locked attempt gets `429` with `Retry-After` and is never checked, so guessing costs the
//! attacker time rather than us CPU. Behind a tunnel every request comes from the tunnel's
//! address, so the per-address counter then acts as a second global one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::service::oauth::passphrase::{self, Verified};

/// Failures from one address before the delays start, and the run that locks it.
const ADDRESS_FREE: u32 = 5;
const ADDRESS_LOCK_AT: u32 = 20;
/// The same for all addresses together: a distributed guesser is slowed down too.
const GLOBAL_FREE: u32 = 20;
const GLOBAL_LOCK_AT: u32 = 100;
const ADDRESS_MAX_DELAY: u64 = 300;
const GLOBAL_MAX_DELAY: u64 = 60;
pub(crate) const LOCK_SECS: u64 = 900;
/// How long a request may queue for a hashing slot before it is told to retry.
const QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Addresses remembered at most; when full, those not currently held back are forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// What a consent attempt may do now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Go,
    /// Wait this many seconds.
    Wait(u64),
}

/// The outcome of an attempt that was let through.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    Checked(Verified),
    /// Every hashing slot stayed busy: not the owner's fault, the form stays usable.
    Busy,
}

#[derive(Clone, Copy, Default)]
struct Counter {
    failures: u32,
    blocked_until: u64,
}

impl Counter {
    fn fail(&mut self, now: u64, free: u32, lock_at: u32, max_delay: u64) {
        self.failures += 1;
        let delay = if self.failures >= lock_at {
            LOCK_SECS
        } else if self.failures > free {
            (1u64 << (self.failures - free - 1).min(20)).min(max_delay)
        } else {
            0
        };
        self.blocked_until = now + delay;
    }
}

/// Failure counters: overall, and per address.
#[derive(Default)]
struct Counters {
    global: Counter,
    by_address: HashMap<IpAddr, Counter>,
}

pub(crate) struct Gate {
    state_dir: PathBuf,
    slots: Semaphore,
    counters: Mutex<Counters>,
}

impl Gate {
    pub(crate) fn new(state_dir: PathBuf, concurrent: usize) -> Gate {
        Gate {
            state_dir,
            slots: Semaphore::new(concurrent.max(1)),
            counters: Mutex::new(Counters::default()),
        }
    }

    /// Whether an attempt from `ip` may be checked now.
    pub(crate) fn check(&self, ip: IpAddr, now: u64) -> Check {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let until = counters
            .global
            .blocked_until
            .max(counters.by_address.get(&ip).map_or(0, |c| c.blocked_until));
        if until > now {
            Check::Wait(until - now)
        } else {
            Check::Go
        }
    }

    pub(crate) fn record_failure(&self, ip: IpAddr, now: u64) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters
            .global
            .fail(now, GLOBAL_FREE, GLOBAL_LOCK_AT, GLOBAL_MAX_DELAY);
        if counters.by_address.len() >= MAX_ADDRESSES {
            counters.by_address.retain(|_, c| c.blocked_until > now);
        }
        counters.by_address.entry(ip).or_default().fail(
            now,
            ADDRESS_FREE,
            ADDRESS_LOCK_AT,
            ADDRESS_MAX_DELAY,
        );
    }

    /// The right passphrase ends both runs of failures.
    pub(crate) fn record_success(&self, ip: IpAddr) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters.global = Counter::default();
        counters.by_address.remove(&ip);
    }

    /// Checks a passphrase on a blocking thread, at most `concurrent` at a time.
    pub(crate) async fn verify(&self, passphrase: String) -> Attempt {
        let Ok(Ok(_permit)) = tokio::time::timeout(QUEUE_WAIT, self.slots.acquire()).await else {
            return Attempt::Busy;
        };
        let state_dir = self.state_dir.clone();
        let verified =
            tokio::task::spawn_blocking(move || passphrase::verify(&state_dir, &passphrase))
                .await
                .unwrap_or_else(|e| Verified::Unavailable(format!("the check failed: {e}")));
        Attempt::Checked(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_lock() {
        let gate = Gate::new(PathBuf::from("/nonexistent"), 1);
        let ip: IpAddr = [192, 0, 2, 1].into();
        let mut now = 1_000;
        let mut waits = Vec::new();
        for _ in 0..ADDRESS_LOCK_AT {
            if let Check::Wait(w) = gate.check(ip, now) {
                now += w;
            }
            gate.record_failure(ip, now);
            waits.push(match gate.check(ip, now) {
                Check::Go => 0,
                Check::Wait(w) => w,
            });
        }
        assert_eq!(&waits[..8], &[0, 0, 0, 0, 0, 1, 2, 4]);
        assert_eq!(*waits.last().unwrap(), LOCK_SECS);
        // Another address is held back only by the global counter, which is not locked yet.
        assert_eq!(gate.check([192, 0, 2, 2].into(), now), Check::Go);
        gate.record_success(ip);
        assert_eq!(gate.check(ip, now), Check::Go);
    }
}
