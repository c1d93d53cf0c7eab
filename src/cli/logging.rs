//! Logging: `tracing` to stderr only (stdout carries data, and protocol under `serve --stdio`).
//! The level comes from `DEEPVAULT_LOG` or `RUST_LOG`, default `deepvault=info,warn`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub(crate) fn init() {
    let filter = std::env::var("DEEPVAULT_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("deepvault=info,warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
