//! `deepvault connect`: ready-to-paste client configurations for the configured address and
//! auth. Everything goes to stdout, so it can be piped into a file.
//!
//! What the user configured becomes a small model, [`Setup`] (where the server is reached, which
//! auth, which flags `serve` needs to match); each client is a function from it to a
//! [`Section`]. Every command printed is one the user can paste: it carries the flags this
//! command was given, and steps that need a value we do not know yet (a tunnel's URL) say how to
//! get it and to run `connect` again with it, instead of printing a placeholder.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{AuthFlags, CommonArgs};
use crate::config::Config;
use crate::error::shell_quote;

#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The vault folder (default: the current directory, or `vault` from the config)
    pub(crate) vault: Option<PathBuf>,
    /// Address the server listens on [default: 127.0.0.1:8765]
    #[arg(long, value_name = "HOST:PORT", env = "DEEPVAULT_LISTEN")]
    pub(crate) listen: Option<String>,
    #[command(flatten)]
    pub(crate) auth: AuthFlags,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

pub(crate) fn run(args: ConnectArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = args.common.overrides(args.vault.clone());
    overrides.values.listen = args.listen.clone();
    args.auth.apply(&mut overrides.values);
    let config = Config::load(&overrides)?;
    let vault = std::fs::canonicalize(&config.vault).unwrap_or(config.vault.clone());
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "deepvault".into());
    let setup = Setup::new(
        &config,
        binary,
        vault.display().to_string(),
        serve_flags(&args),
    );
    print!("{}", setup.render());
    Ok(ExitCode::SUCCESS)
}

/// The flags of this `connect` that `serve` needs too, so that the server matches what is
/// printed. Values from the environment or the config file reach `serve` the same way.
fn serve_flags(args: &ConnectArgs) -> Vec<String> {
    let mut flags = Vec::new();
    let mut push = |flag: &str, value: Option<String>| {
        if let Some(value) = value {
            flags.push(flag.to_string());
            flags.push(value);
        }
    };
    let path = |p: &Option<PathBuf>| {
        p.as_ref().map(|p| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
    };
    push("--listen", args.listen.clone());
    push("--public-url", args.common.public_url.clone());
    push("--url-template", args.common.url_template.clone());
    push("--index-dir", path(&args.common.index_dir));
    push("--config", path(&args.common.config));
    flags.extend(args.auth.flags());
    flags
}

/// Which auth clients meet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    None,
    /// Static bearer tokens (from `DEEPVAULT_TOKENS` or a tokens file).
    Tokens,
    /// deepvault's own OAuth server: apps sign in on its consent page with the owner passphrase.
    /// Static tokens may be configured beside it (`tokens`), for clients that cannot sign in.
    Builtin { tokens: bool },
    /// JWTs from an external issuer.
    OAuth {
        issuer: String,
        scopes: Vec<String>,
        resource: String,
        metadata_url: String,
    },
}

/// Where the server is reached from the internet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicUrl {
    /// Without a trailing `/`.
    pub(crate) url: String,
    /// A Cloudflare quick tunnel: its hostname changes whenever cloudflared restarts.
    pub(crate) quick_tunnel: bool,
}

/// What the user configured, as far as clients are concerned.
#[derive(Clone, Debug)]
pub(crate) struct Setup {
    /// The deepvault binary (absolute).
    pub(crate) binary: String,
    /// The vault folder (absolute).
    pub(crate) vault: String,
    pub(crate) obsidian: bool,
    /// The server's address on this machine: `http://127.0.0.1:8765`.
    pub(crate) local: String,
    pub(crate) public: Option<PublicUrl>,
    pub(crate) auth: ClientAuth,
    /// Flags `serve` needs besides the vault (listen, public URL, auth …).
    pub(crate) serve_flags: Vec<String>,
    /// Of those, the ones that a stdio server needs too (index folder, config file, template).
    pub(crate) stdio_flags: Vec<String>,
}

/// One part of the output: a heading and its text.
pub(crate) struct Section {
    pub(crate) title: String,
    pub(crate) body: String,
}

/// The variable Codex and the curl example read a static token from.
const TOKEN_VAR: &str = "DEEPVAULT_TOKEN";
/// The variable the curl example reads an OAuth access token from.
const ACCESS_TOKEN_VAR: &str = "OAUTH_ACCESS_TOKEN";

impl Setup {
    pub(crate) fn new(
        config: &Config,
        binary: String,
        vault: String,
        serve_flags: Vec<String>,
    ) -> Setup {
        let mut local_config = config.clone();
        local_config.public_url = None;
        let public = config.public_url.as_ref().map(|url| PublicUrl {
            url: url.clone(),
            quick_tunnel: host_of(url).ends_with(".trycloudflare.com"),
        });
        let auth = match (&config.auth.oauth, config.auth.tokens.is_empty()) {
            _ if config.auth.builtin => ClientAuth::Builtin {
                tokens: !config.auth.tokens.is_empty(),
            },
            (Some(oauth), _) => ClientAuth::OAuth {
                issuer: oauth.issuer.clone(),
                scopes: oauth.scopes.clone(),
                resource: oauth.resource.clone(),
                metadata_url: oauth.metadata_url.clone(),
            },
            (None, false) => ClientAuth::Tokens,
            (None, true) => ClientAuth::None,
        };
        let stdio_flags = serve_flags
            .chunks(2)
            .filter(|pair| {
                matches!(
                    pair[0].as_str(),
                    "--index-dir" | "--config" | "--url-template"
                )
            })
            .flatten()
            .cloned()
            .collect();
        Setup {
            binary,
            obsidian: std::path::Path::new(&vault).join(".obsidian").is_dir(),
            vault,
            local: local_config.base_url(),
            public,
            auth,
            serve_flags,
            stdio_flags,
        }
    }

    /// `deepvault serve VAULT FLAGS…`, as arguments.
    pub(crate) fn serve_command(&self) -> Vec<String> {
        let mut argv = vec![self.binary.clone(), "serve".into(), self.vault.clone()];
        argv.extend(self.serve_flags.iter().cloned());
        argv
    }

    /// `deepvault auth passphrase VAULT FLAGS…`: sets the passphrase of the built-in OAuth
    /// server, kept beside the index (so the index folder and config flags go along).
    pub(crate) fn passphrase_command(&self) -> Vec<String> {
        let mut argv = vec![
            self.binary.clone(),
            "auth".into(),
            "passphrase".into(),
            self.vault.clone(),
        ];
        for pair in self.stdio_flags.chunks(2) {
            if pair[0] != "--url-template" {
                argv.extend(pair.iter().cloned());
            }
        }
        argv
    }

    /// `deepvault connect VAULT FLAGS… --public-url URL`, as arguments.
    pub(crate) fn connect_command(&self, public_url: &str) -> Vec<String> {
        let mut argv = vec![self.binary.clone(), "connect".into(), self.vault.clone()];
        for pair in self.serve_flags.chunks(2) {
            if pair[0] != "--public-url" {
                argv.extend(pair.iter().cloned());
            }
        }
        argv.push("--public-url".into());
        argv.push(public_url.into());
        argv
    }

    /// The arguments a client gives `deepvault` to start it over stdio.
    pub(crate) fn stdio_args(&self) -> Vec<String> {
        let mut args = vec!["serve".to_string(), "--stdio".into(), self.vault.clone()];
        args.extend(self.stdio_flags.iter().cloned());
        args
    }

    fn local_mcp(&self) -> String {
        format!("{}/mcp", self.local)
    }

    /// Every section, in the order a user needs them.
    pub(crate) fn sections(&self) -> Vec<Section> {
        vec![
            codex_stdio(self),
            codex_http(self),
            public_https(self),
            responses_api(self),
            claude_desktop(self),
            chatgpt(self),
        ]
    }

    /// The whole text.
    pub(crate) fn render(&self) -> String {
        let mut out = format!(
            "# deepvault connection settings\n# vault:       {}\n# local MCP:   {} (while `deepvault serve` runs)\n",
            self.vault,
            self.local_mcp()
        );
        if let Some(public) = &self.public {
            out.push_str(&format!(
                "# public MCP:  {}/mcp (a tunnel or proxy forwards it to {})\n",
                public.url, self.local
            ));
        }
        out.push_str(&format!("# auth:        {}\n", self.auth_label()));
        for section in self.sections() {
            out.push_str(&format!("\n## {}\n\n{}", section.title, section.body));
            if !section.body.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    fn auth_label(&self) -> String {
        match &self.auth {
            ClientAuth::None => "none".into(),
            ClientAuth::Tokens => {
                "static bearer tokens (the server reads DEEPVAULT_TOKENS or tokens_file)".into()
            }
            ClientAuth::Builtin { tokens } => format!(
                "deepvault's own OAuth server (apps sign in on its consent page with the owner passphrase){}",
                if *tokens {
                    "; static bearer tokens too"
                } else {
                    ""
                }
            ),
            ClientAuth::OAuth { issuer, .. } => format!("OAuth, tokens from {issuer}"),
        }
    }

    /// Where citations of a stdio server point.
    fn stdio_citations(&self) -> &'static str {
        if self.obsidian {
            "open the note in Obsidian (obsidian://)"
        } else {
            "open the note's file (file://)"
        }
    }
}

fn codex_stdio(setup: &Setup) -> Section {
    let args: Vec<String> = setup.stdio_args().iter().map(|a| toml_str(a)).collect();
    Section {
        title: "Codex CLI over stdio: Codex starts deepvault (~/.codex/config.toml)".into(),
        body: format!(
            "[mcp_servers.deepvault]\ncommand = {}\nargs = [{}]\nstartup_timeout_sec = 20\nenabled_tools = [\"search\", \"fetch\"]\nsupports_parallel_tool_calls = true\n\n\
Over stdio deepvault uses no port, so it never gets in the way of your own `deepvault serve`;\n\
its citations {}. To serve note pages as well, add\n\
\"--listen\", \"127.0.0.1:8766\" to args (a port of its own). Check with `codex mcp list`.\n",
            toml_str(&setup.binary),
            args.join(", "),
            setup.stdio_citations()
        ),
    }
}

fn codex_http(setup: &Setup) -> Section {
    let mut toml = format!(
        "[mcp_servers.deepvault-http]\nurl = {}\nenabled_tools = [\"search\", \"fetch\"]\n",
        toml_str(&setup.local_mcp())
    );
    let mut after = String::new();
    let mut before = String::new();
    if let ClientAuth::Builtin { .. } = setup.auth {
        before = format!(
            "First set the owner passphrase that the sign-in page asks for (once; it is kept as an\nargon2 hash beside the index):\n    {}\n\n",
            shell_join(&setup.passphrase_command())
        );
    }
    match &setup.auth {
        ClientAuth::None => {}
        ClientAuth::Builtin { tokens: false } => {
            after = "\nThen sign in once (a browser opens deepvault's consent page; type the owner passphrase):\n    codex mcp login deepvault-http --oauth-client-registration dcr\n".into();
        }
        ClientAuth::Tokens | ClientAuth::Builtin { tokens: true } => {
            toml.push_str(&format!("bearer_token_env_var = \"{TOKEN_VAR}\"\n"));
            after = format!(
                "\nCodex reads the token from {TOKEN_VAR}: set it to one of the server's tokens before\nstarting Codex.\n"
            );
        }
        ClientAuth::OAuth {
            scopes, resource, ..
        } => {
            let scopes: Vec<String> = scopes.iter().map(|s| toml_str(s)).collect();
            toml.push_str(&format!(
                "scopes = [{}]\noauth_resource = {}\n",
                scopes.join(", "),
                toml_str(resource)
            ));
            after = "\nThen sign in once: codex mcp login deepvault-http\n".into();
        }
    }
    Section {
        title: "Codex CLI over HTTP: you run the server (~/.codex/config.toml)".into(),
        body: format!(
            "{before}Start the server and keep it running{}:\n    {}\n\n{toml}{after}",
            if matches!(
                setup.auth,
                ClientAuth::Tokens | ClientAuth::Builtin { tokens: true }
            ) {
                ", in a shell where DEEPVAULT_TOKENS is set"
            } else {
                ""
            },
            shell_join(&setup.serve_command())
        ),
    }
}

fn public_https(setup: &Setup) -> Section {
    let quick_tunnel_note = "Quick-tunnel hostnames (*.trycloudflare.com) change every time cloudflared starts. After a\n\
restart: start deepvault again with the new --public-url, and edit the URL of the ChatGPT app\n\
(Settings → Apps) and refresh it; citation URLs handed out before (in earlier chats and\n\
reports) point at the old hostname and no longer open. For a stable URL use a named tunnel\n\
(`cloudflared tunnel create`) or your own domain behind a reverse proxy.\n";
    let tunnel = format!("cloudflared tunnel --url {}", setup.local);
    let body = match &setup.public {
        None => format!(
            "ChatGPT and the Responses API connect from OpenAI's servers: they need a public HTTPS URL\n\
(localhost, plain http and VPN-only hosts do not work).\n\
1. Start a tunnel to the local server, e.g. a Cloudflare quick tunnel (no account needed):\n    {tunnel}\n   \
It prints a URL like https://random-words.trycloudflare.com. (Or: ngrok http {}.)\n\
2. Print these settings again with that URL; they then include it everywhere:\n    {}\n\n{quick_tunnel_note}",
            setup.local.trim_start_matches("http://"),
            shell_join(&setup.connect_command("https://random-words.trycloudflare.com"))
        ),
        Some(public) => format!(
            "1. Your tunnel (or proxy) forwards {url}\n   to the local server, {local}, e.g.\n    {tunnel}\n{quick}\
2. Start the server with the public URL, so that its Host check admits the tunnel's requests and\n   \
citations use it (this is the same command as for Codex above):\n    {serve}\n\
3. Check from anywhere: curl {url}/healthz\n\n{note}",
            url = public.url,
            local = setup.local,
            quick = if public.quick_tunnel {
                "   (a quick tunnel prints its URL when it starts; this one must be the one running)\n"
            } else {
                ""
            },
            serve = shell_join(&setup.serve_command()),
            note = if public.quick_tunnel {
                quick_tunnel_note
            } else {
                ""
            },
        ),
    };
    Section {
        title: "A public HTTPS URL (for ChatGPT and the Responses API)".into(),
        body,
    }
}

/// The `tools` entry of the Responses API, with `token` where the credential goes.
fn responses_tool(setup: &Setup, public: &PublicUrl, token: &str) -> serde_json::Value {
    let mut tool = serde_json::json!({
        "type": "mcp",
        "server_label": "deepvault",
        "server_description": "My Markdown notes",
        "server_url": format!("{}/mcp", public.url),
        "allowed_tools": ["search", "fetch"],
        "require_approval": "never",
    });
    match &setup.auth {
        ClientAuth::None | ClientAuth::Builtin { tokens: false } => {}
        ClientAuth::Tokens | ClientAuth::Builtin { tokens: true } => {
            tool["headers"] = serde_json::json!({ "Authorization": format!("Bearer {token}") });
        }
        ClientAuth::OAuth { .. } => tool["authorization"] = serde_json::json!(token),
    }
    tool
}

fn responses_api(setup: &Setup) -> Section {
    let title = "OpenAI Responses API (deep research)".to_string();
    let Some(public) = &setup.public else {
        return Section {
            title,
            body: "Needs the public HTTPS URL: see the section above; run `connect` with --public-url and\nthis section shows the request.\n".into(),
        };
    };
    let var = match setup.auth {
        ClientAuth::OAuth { .. } => Some(ACCESS_TOKEN_VAR),
        ClientAuth::Tokens | ClientAuth::Builtin { tokens: true } => Some(TOKEN_VAR),
        ClientAuth::None | ClientAuth::Builtin { tokens: false } => None,
    };
    // A sentinel stands for the credential, so that the JSON can be escaped for the shell and
    // the variable then left to expand.
    let sentinel = "@@DEEPVAULT_CREDENTIAL@@";
    let tool = responses_tool(setup, public, sentinel);
    let request = serde_json::json!({
        "model": "o4-mini-deep-research",
        "input": "What do my notes say about ...?",
        "tools": [tool],
    });
    let json = serde_json::to_string_pretty(&request).expect("json");
    let escaped = json
        .replace('\\', "\\\\")
        .replace('$', "\\$")
        .replace('`', "\\`")
        .replace(sentinel, &format!("${}", var.unwrap_or("")));
    let setup_line = match &setup.auth {
        ClientAuth::None => String::new(),
        ClientAuth::Tokens | ClientAuth::Builtin { tokens: true } => {
            format!("With {TOKEN_VAR} set to one of the server's tokens:\n\n")
        }
        ClientAuth::Builtin { tokens: false } => format!(
            "The API cannot sign in on deepvault's consent page: give the server a static token as well\n\
(start it with --auth builtin and DEEPVAULT_TOKENS set; tokens work beside the built-in OAuth),\n\
then run `connect` again with the same settings and this request carries {TOKEN_VAR}. As it\n\
stands, the request has no credential:\n\n"
        ),
        ClientAuth::OAuth { resource, .. } => format!(
            "With {ACCESS_TOKEN_VAR} set to an access token from your issuer (audience\n{resource}):\n\n"
        ),
    };
    Section {
        title,
        body: format!(
            "The `tools` entry (deep research needs require_approval \"never\"), in a complete request:\n\n\
{setup_line}curl https://api.openai.com/v1/responses \\\n  -H \"Authorization: Bearer $OPENAI_API_KEY\" -H \"Content-Type: application/json\" \\\n  -d @- <<EOF\n{escaped}\nEOF\n"
        ),
    }
}

fn claude_desktop(setup: &Setup) -> Section {
    let claude = serde_json::json!({
        "mcpServers": {"deepvault": {"command": setup.binary, "args": setup.stdio_args()}}
    });
    Section {
        title: "Claude Desktop over stdio (claude_desktop_config.json)".into(),
        body: format!("{}\n", serde_json::to_string_pretty(&claude).expect("json")),
    }
}

fn chatgpt(setup: &Setup) -> Section {
    let title = "ChatGPT (developer mode apps, deep research)".to_string();
    let Some(public) = &setup.public else {
        return Section {
            title,
            body: "Needs the public HTTPS URL: see \"A public HTTPS URL\" above; run `connect` with --public-url\nand this section shows the steps.\n".into(),
        };
    };
    let auth = match &setup.auth {
        ClientAuth::None => "No authentication. Anyone who learns the URL can read every note.".to_string(),
        ClientAuth::Tokens => "ChatGPT offers OAuth or no authentication, not static tokens, so it cannot use this\n   server as configured: add --auth builtin (deepvault's own OAuth server; set the passphrase\n   first with `deepvault auth passphrase`), or --auth oauth with your issuer (see the README).".to_string(),
        ClientAuth::Builtin { .. } => format!(
            "OAuth (leave the client ID and secret empty: ChatGPT registers itself).\n   \
ChatGPT then opens deepvault's consent page, {}/authorize. It names the app and where\n   \
it returns, says the app may search and read every note, read-only, and asks for the owner\n   \
passphrase. Type it and press Allow; ChatGPT stays connected (its tokens refresh).\n   \
`deepvault auth clients` lists what you approved; `deepvault auth revoke all` ends it.",
            public.url
        ),
        ClientAuth::OAuth {
            issuer,
            scopes,
            metadata_url,
            ..
        } => format!(
            "OAuth. ChatGPT finds your issuer ({issuer}) through\n   {metadata_url}\n   and registers itself there: allow it (dynamic client registration, or a client id you\n   enter), with scopes {}.",
            if scopes.is_empty() {
                "none".to_string()
            } else {
                scopes.join(" ")
            }
        ),
    };
    Section {
        title,
        body: format!(
            "1. Keep the tunnel and the server (section above) running.\n\
2. In ChatGPT: Settings → Apps → Advanced settings → turn on Developer mode, then \"Create app\".\n   \
MCP server URL: {}/mcp\n   Authentication: {auth}\n\
3. Use it in a chat (+ → the app) or in deep research. After the server changes, open the app\n   \
in Settings → Apps and press Refresh.\n",
            public.url
        ),
    }
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(']') => h,
        _ => host,
    }
}

fn toml_str(text: &str) -> String {
    // A JSON string is a valid TOML basic string.
    serde_json::to_string(text).expect("string serializes")
}

fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, try_parse};
    use crate::config::Overrides;

    const BINARY: &str = "/opt/deep vault/bin/deepvault";
    const VAULT: &str = "/home/me/My Notes";
    const TUNNEL: &str = "https://quiet-fox-1234.trycloudflare.com";

    /// The output for these `connect` flags and environment.
    fn connect(flags: &[&str], env: &[(&str, &str)]) -> (Setup, String) {
        let mut argv = vec!["deepvault", "connect", VAULT];
        argv.extend_from_slice(flags);
        let Command::Connect(args) = try_parse(argv).unwrap().command else {
            unreachable!()
        };
        let mut overrides: Overrides = args.common.overrides(args.vault.clone());
        overrides.values.listen = args.listen.clone();
        args.auth.apply(&mut overrides.values);
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::load_with_env(&overrides, &env).unwrap();
        let setup = Setup::new(&config, BINARY.into(), VAULT.into(), serve_flags(&args));
        let text = setup.render();
        (setup, text)
    }

    /// Splits a command line as a POSIX shell would (plain words and single quotes).
    fn shell_split(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        let mut in_word = false;
        let mut chars = line.trim().chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' => {
                    quoted = !quoted;
                    in_word = true;
                }
                '\\' if !quoted => {
                    if let Some(next) = chars.next() {
                        word.push(next);
                    }
                }
                ' ' if !quoted => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                c => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            words.push(word);
        }
        words
    }

    /// Each printed command line that runs deepvault, parsed back into its arguments.
    fn printed_commands(text: &str) -> Vec<Vec<String>> {
        let quoted = shell_quote(BINARY);
        text.lines()
            .map(str::trim)
            .filter(|line| line.starts_with(&quoted))
            .map(shell_split)
            .collect()
    }

    /// The TOML blocks (for Codex) parse, together, as a config.toml.
    fn codex_toml(text: &str) -> toml::Table {
        let mut toml = String::new();
        let mut inside = false;
        for line in text.lines() {
            if line.starts_with("[mcp_servers.") {
                inside = true;
            } else if line.is_empty() || line.starts_with("##") {
                inside = false;
            }
            if inside {
                toml.push_str(line);
                toml.push('\n');
            }
        }
        toml.parse().expect("the Codex settings are TOML")
    }

    /// What every combination has in common: valid configs, commands that parse, the stdio
    /// server started as `deepvault serve --stdio VAULT`, no placeholder to edit.
    fn check_common(setup: &Setup, text: &str) {
        assert!(!text.contains("YOUR-PUBLIC-HOST"), "{text}");
        let codex = codex_toml(text);
        let stdio = &codex["mcp_servers"]["deepvault"];
        assert_eq!(stdio["command"].as_str(), Some(BINARY));
        let args: Vec<&str> = stdio["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args[..3], ["serve", "--stdio", VAULT]);
        let mut argv = vec!["deepvault"];
        argv.extend(&args);
        let Command::Serve(serve) = try_parse(argv).unwrap().command else {
            panic!("not serve")
        };
        assert!(serve.stdio && serve.listen.is_none(), "stdio takes no port");
        assert_eq!(
            codex["mcp_servers"]["deepvault-http"]["url"].as_str(),
            Some("http://127.0.0.1:8765/mcp")
        );
        // Every command printed parses, and each `serve` is the one the setup needs.
        let commands = printed_commands(text);
        assert!(!commands.is_empty(), "{text}");
        for argv in &commands {
            let parsed = try_parse(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            if let Command::Serve(_) = parsed.command {
                assert_eq!(argv, &setup.serve_command());
            }
        }
        assert!(
            commands.iter().any(|c| c == &setup.serve_command()),
            "{text}"
        );
        // The tunnel points at the local server, never at itself.
        assert!(
            text.contains("cloudflared tunnel --url http://127.0.0.1:8765\n"),
            "{text}"
        );
        assert!(!text.contains(&format!("--url {TUNNEL}")), "{text}");
        let claude: serde_json::Value = serde_json::from_str(
            text.split("## Claude Desktop")
                .nth(1)
                .unwrap()
                .split_once('\n')
                .unwrap()
                .1
                .split("\n## ")
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            claude["mcpServers"]["deepvault"]["args"],
            serde_json::json!(setup.stdio_args())
        );
    }

    /// Runs the printed Responses API request through `sh` (with curl replaced by `cat`) and
    /// returns the JSON body it would send.
    fn responses_body(text: &str, env: &[(&str, &str)]) -> serde_json::Value {
        let section = text
            .split("## OpenAI Responses API")
            .nth(1)
            .unwrap()
            .split("\n## ")
            .next()
            .unwrap();
        let script: String = section
            .lines()
            .skip_while(|l| !l.starts_with("curl "))
            .collect::<Vec<_>>()
            .join("\n");
        let script = format!("curl() {{ cat; }}\n{script}\n");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .envs(env.iter().copied())
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{script}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {script}"))
    }

    /// Quick tunnels, suggested or used, come with what their changing hostname means.
    fn check_quick_tunnel_note(text: &str) {
        assert!(
            text.contains("hostnames (*.trycloudflare.com) change every time"),
            "{text}"
        );
        assert!(text.contains("edit the URL of the ChatGPT app"), "{text}");
        assert!(text.contains("citation URLs handed out before"), "{text}");
    }

    #[test]
    fn no_public_url() {
        let (setup, text) = connect(&[], &[]);
        check_common(&setup, &text);
        check_quick_tunnel_note(&text);
        assert_eq!(setup.serve_command(), vec![BINARY, "serve", VAULT]);
        // The next step is a command with the tunnel's URL, not a placeholder to edit.
        let commands = printed_commands(&text);
        let next = commands
            .iter()
            .find(|c| c[1] == "connect")
            .expect("a connect command");
        assert_eq!(
            next[next.len() - 2..],
            ["--public-url", "https://random-words.trycloudflare.com"]
        );
        assert!(text.contains("Needs the public HTTPS URL"), "{text}");
        assert!(!text.contains("server_url"), "{text}");
        assert!(!text.contains("# public MCP"), "{text}");
    }

    #[test]
    fn a_public_url() {
        let (setup, text) = connect(&["--public-url", TUNNEL], &[]);
        check_common(&setup, &text);
        check_quick_tunnel_note(&text);
        assert_eq!(
            setup.serve_command(),
            vec![BINARY, "serve", VAULT, "--public-url", TUNNEL]
        );
        // The local address is what is on this machine; the public one is not called that.
        assert!(
            text.contains("# local MCP:   http://127.0.0.1:8765/mcp"),
            "{text}"
        );
        assert!(
            text.contains(&format!("# public MCP:  {TUNNEL}/mcp (a tunnel")),
            "{text}"
        );
        assert!(
            text.contains(&format!("MCP server URL: {TUNNEL}/mcp")),
            "{text}"
        );
        // A public URL and no other auth: deepvault's own OAuth server, passphrase first.
        assert_eq!(setup.auth, ClientAuth::Builtin { tokens: false });
        let passphrase = setup.passphrase_command();
        assert_eq!(passphrase[1..], ["auth", "passphrase", VAULT]);
        assert!(
            printed_commands(&text).contains(&passphrase),
            "the passphrase command is printed: {text}"
        );
        let first_serve = text.find(&shell_join(&setup.serve_command())).unwrap();
        assert!(text.find(&shell_join(&passphrase)).unwrap() < first_serve);
        assert!(
            text.contains("Authentication: OAuth (leave the client ID and secret empty"),
            "{text}"
        );
        assert!(text.contains(&format!("{TUNNEL}/authorize")), "{text}");
        assert!(text.contains("owner\n   passphrase") || text.contains("owner passphrase"));
        assert!(
            text.contains("codex mcp login deepvault-http --oauth-client-registration dcr"),
            "{text}"
        );
        assert!(text.contains("cannot sign in on deepvault's consent page"), "{text}");
        let body = responses_body(&text, &[]);
        assert_eq!(body["tools"][0]["server_url"], format!("{TUNNEL}/mcp"));
        assert_eq!(body["tools"][0]["require_approval"], "never");
        assert!(body["tools"][0].get("headers").is_none());
    }

    #[test]
    fn tokens() {
        let env = [("DEEPVAULT_TOKENS", "a-token-of-sixteen-chars")];
        let (setup, text) = connect(
            &["--public-url", TUNNEL, "--listen", "127.0.0.1:9000"],
            &env,
        );
        assert_eq!(setup.auth, ClientAuth::Tokens);
        assert!(
            !text.contains("a-token-of-sixteen-chars"),
            "tokens are never printed"
        );
        let codex = codex_toml(&text);
        assert_eq!(
            codex["mcp_servers"]["deepvault-http"]["url"].as_str(),
            Some("http://127.0.0.1:9000/mcp")
        );
        assert_eq!(
            codex["mcp_servers"]["deepvault-http"]["bearer_token_env_var"].as_str(),
            Some("DEEPVAULT_TOKEN")
        );
        assert!(text.contains("cloudflared tunnel --url http://127.0.0.1:9000\n"));
        assert!(
            text.contains("in a shell where DEEPVAULT_TOKENS is set"),
            "{text}"
        );
        assert!(text.contains("not static tokens"), "{text}");
        for argv in printed_commands(&text) {
            try_parse(&argv).unwrap();
        }
        assert_eq!(
            setup.serve_command()[3..],
            ["--listen", "127.0.0.1:9000", "--public-url", TUNNEL]
        );
        let body = responses_body(&text, &[("DEEPVAULT_TOKEN", "tok$en")]);
        assert_eq!(
            body["tools"][0]["headers"]["Authorization"],
            "Bearer tok$en"
        );
    }

    #[test]
    fn oauth_with_an_external_issuer() {
        let (setup, text) = connect(
            &[
                "--public-url",
                "https://notes.example.com",
                "--oauth-issuer",
                "https://issuer.example/",
                "--oauth-scopes",
                "vault:read,notes",
            ],
            &[],
        );
        check_common(&setup, &text);
        assert!(matches!(setup.auth, ClientAuth::OAuth { .. }));
        assert_eq!(
            setup.serve_command()[3..],
            [
                "--public-url",
                "https://notes.example.com",
                "--oauth-issuer",
                "https://issuer.example/",
                "--oauth-scopes",
                "vault:read,notes"
            ]
        );
        let codex = codex_toml(&text);
        let http = &codex["mcp_servers"]["deepvault-http"];
        assert_eq!(
            http["oauth_resource"].as_str(),
            Some("https://notes.example.com/mcp")
        );
        assert_eq!(http["scopes"].as_array().unwrap().len(), 2);
        assert!(text.contains("codex mcp login deepvault-http"), "{text}");
        assert!(text.contains("Authentication: OAuth"), "{text}");
        assert!(
            text.contains("https://notes.example.com/.well-known/oauth-protected-resource/mcp"),
            "{text}"
        );
        // Not a quick tunnel: no word about changing hostnames in the steps.
        assert!(!text.contains("this one must be the one running"), "{text}");
        let body = responses_body(&text, &[("OAUTH_ACCESS_TOKEN", "ey.jwt")]);
        assert_eq!(body["tools"][0]["authorization"], "ey.jwt");
    }

    #[test]
    fn stdio_citations_follow_the_vault_kind() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().to_str().unwrap();
        let config = Config::load_with_env(&Overrides::default(), &Default::default()).unwrap();
        let setup = Setup::new(&config, BINARY.into(), vault.into(), Vec::new());
        assert!(setup.render().contains("file://"));
        std::fs::create_dir(dir.path().join(".obsidian")).unwrap();
        let setup = Setup::new(&config, BINARY.into(), vault.into(), Vec::new());
        assert!(setup.render().contains("obsidian://"));
    }

    /// The README's "Connecting clients" section and `connect` say the same: the same Codex
    /// settings, the same tunnel command, the same notes on quick tunnels.
    #[test]
    fn the_readme_agrees() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## Connecting clients")
            .nth(1)
            .unwrap()
            .split("\n## ")
            .next()
            .unwrap();
        let mut blocks = section
            .split("```toml\n")
            .skip(1)
            .map(|b| b.split("```").next().unwrap());
        let readme_toml: toml::Table = blocks
            .by_ref()
            .collect::<Vec<_>>()
            .join("\n")
            .parse()
            .expect("README TOML");
        let (_, text) = connect(
            &["--public-url", TUNNEL],
            &[("DEEPVAULT_TOKENS", "a-token-of-sixteen-chars")],
        );
        let printed = codex_toml(&text);
        for server in ["deepvault", "deepvault-http"] {
            let keys = |t: &toml::Table| -> Vec<String> {
                t["mcp_servers"][server]
                    .as_table()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect()
            };
            assert_eq!(keys(&readme_toml), keys(&printed), "{server}");
        }
        assert_eq!(
            readme_toml["mcp_servers"]["deepvault-http"]["url"],
            printed["mcp_servers"]["deepvault-http"]["url"]
        );
        for shared in [
            "cloudflared tunnel --url http://127.0.0.1:8765",
            "--public-url",
            "change every time cloudflared starts",
            "citation URLs handed out before",
            "obsidian://",
            "file://",
            "\"--listen\", \"127.0.0.1:8766\"",
            "codex mcp login deepvault-http",
        ] {
            assert!(
                section.replace('\n', " ").contains(shared),
                "README lacks {shared}"
            );
        }
        let (_, oauth) = connect(
            &[
                "--public-url",
                TUNNEL,
                "--oauth-issuer",
                "https://issuer.example/",
            ],
            &[],
        );
        let (_, plain) = connect(&[], &[]);
        let printed = format!("{text}{oauth}{plain}").replace('\n', " ");
        for shared in [
            "cloudflared tunnel --url http://127.0.0.1:8765",
            "change every time cloudflared starts",
            "citation URLs handed out before",
            "file://",
            "\"--listen\", \"127.0.0.1:8766\"",
            "codex mcp login deepvault-http",
        ] {
            assert!(printed.contains(shared), "connect lacks {shared}");
        }
    }
}
