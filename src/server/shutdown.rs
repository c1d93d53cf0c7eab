//! Signals: the first SIGINT or SIGTERM stops gracefully, a second one exits at once.
//!
//! The first raises the indexer's [`Cancel`] flag at once (a long first index stops between
//! files, and what it did is committed, so the next start resumes) and cancels the server's
//! token (HTTP stops accepting, streams end). Should that commit take too long for the user, a
//! second Ctrl-C exits on the spot; the index stays as of its last commit, which tantivy writes
//! atomically.

use tokio_util::sync::CancellationToken;

use crate::vault::cancel::Cancel;

/// Exit status after a second signal (128 + SIGINT, as shells report it).
const FORCED_EXIT: i32 = 130;

/// From now on, the first signal raises `cancel` and cancels `shutdown`; the second exits the
/// process. Call inside the runtime.
pub(crate) fn spawn_on_signals(shutdown: CancellationToken, cancel: Cancel) {
    let mut signals = Signals::new();
    tokio::spawn(async move {
        signals.next().await;
        tracing::info!("shutting down (press Ctrl-C again to quit at once)");
        cancel.cancel();
        shutdown.cancel();
        signals.next().await;
        eprintln!("quitting at once; the next start resumes from the last commit");
        std::process::exit(FORCED_EXIT);
    });
}

/// For a command without an async runtime (`deepvault index`): the same on a thread of its own.
/// The first signal raises `cancel`; the second exits.
pub(crate) fn watch_in_background(cancel: Cancel) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        return; // then Ctrl-C keeps its default: stop at once
    };
    // Registered before the thread starts, so no signal is missed from here on.
    let mut signals = runtime.block_on(async { Signals::new() });
    let _ = std::thread::Builder::new()
        .name("deepvault-signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                signals.next().await;
                cancel.cancel();
                signals.next().await;
                eprintln!("quitting at once; the next run resumes from the last commit");
                std::process::exit(FORCED_EXIT);
            })
        });
}

/// SIGINT and SIGTERM, registered once, so that a signal between two waits is not lost.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Resolves on the next SIGINT or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = recv(&mut self.interrupt) => {},
                _ = recv(&mut self.terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
