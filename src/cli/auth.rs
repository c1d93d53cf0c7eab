//! `deepvault auth`: the built-in OAuth server's owner commands, on the state folder beside the
//! index (the same `--config` and `--index-dir` as `serve`), while a server may be running.
//!
//! - `passphrase [VAULT]`: sets the passphrase the consent page asks for (a prompt without
//!   echo on a terminal, else one line from stdin).
//! - `clients [VAULT]`: registered clients and live grants: who, when approved, last used.
//! - `revoke CLIENT|all [VAULT]`: ends a client's grants and registration, or everyone's.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::CommonArgs;
use crate::config::Config;
use crate::index::fetch::rfc3339;
use crate::service::oauth::passphrase::MIN_CHARS;
use crate::service::oauth::{self, ClientKind, Revocation};

#[derive(Debug, Args)]
pub(crate) struct AuthArgs {
    #[command(subcommand)]
    pub(crate) command: AuthCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuthCommand {
    /// Set the passphrase the consent page asks for (typed without echo, or piped on stdin)
    Passphrase {
        /// The vault folder (default: the current directory, or `vault` from the config)
        vault: Option<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List registered OAuth clients and their grants: when approved, when last used
    Clients {
        /// The vault folder (default: the current directory, or `vault` from the config)
        vault: Option<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Revoke a client (its tokens and its registration), or `all`
    Revoke {
        /// A client id from `deepvault auth clients`, or `all`
        client: String,
        /// The vault folder (default: the current directory, or `vault` from the config)
        vault: Option<PathBuf>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

pub(crate) fn run(args: AuthArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuthCommand::Passphrase { vault, common } => {
            let config = Config::load(&common.overrides(vault))?;
            let state_dir = config.state_dir();
            let replacing = oauth::passphrase_is_set(&state_dir);
            let passphrase = read_passphrase()?;
            oauth::set_passphrase(&state_dir, &passphrase)?;
            eprintln!(
                "{} the passphrase for {} (argon2id hash in {}); a running server uses it from its next consent page",
                if replacing { "replaced" } else { "set" },
                config.vault.display(),
                state_dir.join("oauth").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        AuthCommand::Clients {
            vault,
            json,
            common,
        } => {
            let config = Config::load(&common.overrides(vault))?;
            let clients = oauth::list_clients(&config.state_dir())?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &clients)?;
                writeln!(out)?;
            } else if clients.is_empty() {
                writeln!(
                    out,
                    "no OAuth clients yet: add the app in ChatGPT (Authentication: OAuth) and approve it with your passphrase"
                )?;
            } else {
                write!(out, "{}", render_clients(&clients))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AuthCommand::Revoke {
            client,
            vault,
            common,
        } => {
            let config = Config::load(&common.overrides(vault))?;
            let target = if client.eq_ignore_ascii_case("all") {
                Revocation::All
            } else {
                Revocation::Client(client)
            };
            let (grants, clients) = oauth::revoke(&config.state_dir(), &target)?;
            let names: Vec<String> = clients
                .iter()
                .map(|c| format!("{} ({})", c.client_name, c.client_id))
                .collect();
            println!(
                "revoked {grants} grant(s) of {} client(s){}{}",
                clients.len(),
                if names.is_empty() { "" } else { ": " },
                names.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The passphrase, typed twice without echo on a terminal, else the first line of stdin.
fn read_passphrase() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        eprintln!(
            "the consent page will ask for this passphrase before an app (ChatGPT) may read the vault; at least {MIN_CHARS} characters"
        );
        let first = rpassword::prompt_password("new passphrase: ")
            .context("cannot read the passphrase from the terminal")?;
        let second = rpassword::prompt_password("again: ")
            .context("cannot read the passphrase from the terminal")?;
        anyhow::ensure!(
            first == second,
            "the two passphrases differ; nothing was changed\n\nhint: run the command again"
        );
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the passphrase from stdin")?;
    let passphrase = line.trim_end_matches(['\n', '\r']).to_string();
    anyhow::ensure!(
        !passphrase.is_empty(),
        "no passphrase on stdin\n\nhint: run `deepvault auth passphrase` in a terminal, or pipe it: printf '%s\\n' \"$PASSPHRASE\" | deepvault auth passphrase"
    );
    Ok(passphrase)
}

fn when(seconds: u64) -> String {
    let nanos = i64::try_from(seconds)
        .unwrap_or(i64::MAX / 1_000_000_000)
        .saturating_mul(1_000_000_000);
    let text = rfc3339(nanos);
    // Seconds are enough for people: 2026-11-29T07:26:13Z.
    match text.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => text,
    }
}

/// One block per client: id, name, redirect hosts, then its grants.
fn render_clients(clients: &[oauth::ClientSummary]) -> String {
    let mut out = String::new();
    for client in clients {
        out.push_str(&format!(
            "{}  {}  ({}, returns to {}, registered {})\n",
            client.client_id,
            client.client_name,
            match client.kind {
                ClientKind::Dcr => "registered itself",
                ClientKind::Cimd => "metadata document",
            },
            client.redirect_hosts.join(", "),
            when(client.registered_at)
        ));
        if client.grants.is_empty() {
            out.push_str("    no live grant (not approved, or revoked)\n");
        }
        for grant in &client.grants {
            out.push_str(&format!(
                "    approved {}, last used {}, scope {}, valid until {}\n",
                when(grant.approved_at),
                grant.last_used.map_or_else(|| "never".to_string(), when),
                grant.scopes.join(" "),
                when(grant.expires_at)
            ));
        }
    }
    out
}
