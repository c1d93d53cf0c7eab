//! `deepvault serve`: its arguments, turned into config overrides for [`crate::server::run`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::CommonArgs;
use crate::config::{AuthMode, Config};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The vault folder (default: the current directory, or `vault` from the config)
    pub(crate) vault: Option<PathBuf>,
    /// Address to listen on [env: DEEPVAULT_LISTEN] [default: 127.0.0.1:8765]
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) listen: Option<String>,
    /// Serve MCP over stdin/stdout instead of HTTP (for Codex CLI and Claude Desktop)
    #[arg(long)]
    pub(crate) stdio: bool,
    /// Poll the vault for changes instead of using file-system events (network drives,
    /// container volumes) [env: DEEPVAULT_POLL]
    #[arg(long)]
    pub(crate) poll: bool,
    /// Who grants access: `auto` (the default: built-in OAuth when --public-url is not
    /// loopback and no tokens or issuer are set) or `builtin` (deepvault's own OAuth server,
    /// also on loopback) [env: DEEPVAULT_AUTH]
    #[arg(long, value_name = "MODE", value_parser = parse_auth_mode)]
    pub(crate) auth: Option<AuthMode>,
    /// Serve a non-loopback address without authentication (anyone who reaches it can read
    /// the vault) [env: DEEPVAULT_INSECURE_NO_AUTH]
    #[arg(long)]
    pub(crate) insecure_no_auth: bool,
    /// Append a JSON line per tool call to FILE [env: DEEPVAULT_AUDIT_LOG]
    #[arg(long, value_name = "FILE")]
    pub(crate) audit_log: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = args.common.overrides(args.vault);
    let flags = &mut overrides.values;
    flags.listen = args.listen;
    flags.poll = args.poll.then_some(true);
    flags.insecure_no_auth = args.insecure_no_auth.then_some(true);
    flags.auth = args.auth;
    flags.audit_log = args.audit_log;
    let config = Config::load(&overrides)?;
    crate::server::run(config, args.stdio)
}

fn parse_auth_mode(text: &str) -> Result<AuthMode, String> {
    match text {
        "auto" => Ok(AuthMode::Auto),
        "builtin" => Ok(AuthMode::Builtin),
        other => Err(format!(
            "`{other}` is not an auth mode; use auto or builtin"
        )),
    }
}
