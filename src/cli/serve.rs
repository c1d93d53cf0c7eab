//! `deepvault serve`: its arguments, turned into config overrides for [`crate::server::run`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{AuthFlags, CommonArgs};
use crate::config::Config;
use crate::server::Transport;

#[derive(Debug, Args)]
#[command(
    after_help = "Static bearer tokens come from DEEPVAULT_TOKENS (comma-separated) or --tokens-file, never from the command line. `deepvault connect` prints client configurations for the same options."
)]
pub(crate) struct ServeArgs {
    /// The vault folder (default: the current directory, or `vault` from the config)
    pub(crate) vault: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8765]. With --stdio, only this flag (not the
    /// variable or the config file) serves note pages over HTTP
    #[arg(long, value_name = "HOST:PORT", env = "DEEPVAULT_LISTEN")]
    pub(crate) listen: Option<String>,
    /// Serve MCP over stdin/stdout instead of HTTP (for Codex CLI and Claude Desktop); binds no
    /// port unless --listen is given
    #[arg(long)]
    pub(crate) stdio: bool,
    /// Poll the vault for changes instead of using file-system events (network drives,
    /// container volumes)
    #[arg(long, env = "DEEPVAULT_POLL")]
    pub(crate) poll: bool,
    /// Serve a non-loopback address without authentication (anyone who reaches it can read
    /// the vault)
    #[arg(long, env = "DEEPVAULT_INSECURE_NO_AUTH")]
    pub(crate) insecure_no_auth: bool,
    /// Append a JSON line per tool call to FILE
    #[arg(long, value_name = "FILE", env = "DEEPVAULT_AUDIT_LOG")]
    pub(crate) audit_log: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) auth: AuthFlags,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let transport = if args.stdio {
        // Only the command line asks a stdio server for pages: see `crate::server`.
        Transport::Stdio {
            pages: args.listen.is_some(),
        }
    } else {
        Transport::Http
    };
    let mut overrides = args.common.overrides(args.vault);
    let flags = &mut overrides.values;
    flags.listen = args.listen;
    flags.poll = args.poll.then_some(true);
    flags.insecure_no_auth = args.insecure_no_auth.then_some(true);
    flags.audit_log = args.audit_log;
    args.auth.apply(flags);
    let config = Config::load(&overrides)?;
    crate::server::run(config, transport)
}
