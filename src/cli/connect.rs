//! `deepvault connect`: ready-to-paste client configurations for the configured address and
//! auth. Everything goes to stdout, so it can be piped into a file.

use std::fmt::Write as _;
use std::process::ExitCode;

use std::path::PathBuf;

use clap::Args;

use super::CommonArgs;
use crate::config::Config;
use crate::error::shell_quote;

#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The vault folder (default: the current directory, or `vault` from the config)
    pub(crate) vault: Option<PathBuf>,
    /// Address the server listens on [env: DEEPVAULT_LISTEN] [default: 127.0.0.1:8765]
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) listen: Option<String>,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

pub(crate) fn run(args: ConnectArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = args.common.overrides(args.vault);
    overrides.values.listen = args.listen;
    let config = Config::load(&overrides)?;
    let vault = std::fs::canonicalize(&config.vault).unwrap_or(config.vault.clone());
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "deepvault".into());
    print!("{}", render(&config, &vault.display().to_string(), &binary));
    Ok(ExitCode::SUCCESS)
}

/// The whole text, for the given vault path and binary path.
pub(crate) fn render(config: &Config, vault: &str, binary: &str) -> String {
    let local_mcp = format!("{}/mcp", config.base_url());
    let public = config.public_url.clone();
    let public_mcp = public
        .as_ref()
        .map(|url| format!("{url}/mcp"))
        .unwrap_or_else(|| "https://YOUR-PUBLIC-HOST/mcp".into());
    let q = |s: &str| serde_json::to_string(s).expect("string serializes");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# deepvault connection settings\n# vault: {vault}\n# MCP endpoint on this machine: {local_mcp}\n"
    );

    let _ = writeln!(
        out,
        "## Codex CLI (~/.codex/config.toml), stdio: Codex starts deepvault itself\n"
    );
    let _ = writeln!(
        out,
        "[mcp_servers.deepvault]\ncommand = {}\nargs = [\"serve\", \"--stdio\", {}]\nstartup_timeout_sec = 20\nenabled_tools = [\"search\", \"fetch\"]\nsupports_parallel_tool_calls = true\n",
        q(binary),
        q(vault)
    );
    let _ = writeln!(
        out,
        "## Codex CLI, streamable HTTP: first run `deepvault serve {}` and keep it running\n",
        shell_quote(vault)
    );
    let tokens = !config.auth.tokens.is_empty();
    let oauth = config.auth.oauth.as_ref();
    let mut http_server = format!(
        "[mcp_servers.deepvault-http]\nurl = {}\nenabled_tools = [\"search\", \"fetch\"]\n",
        q(&local_mcp)
    );
    if tokens {
        http_server.push_str(
            "bearer_token_env_var = \"DEEPVAULT_TOKEN\"   # export DEEPVAULT_TOKEN=<one of your tokens>\n",
        );
    } else if let Some(oauth) = oauth {
        let scopes: Vec<String> = oauth.scopes.iter().map(|s| q(s)).collect();
        let _ = writeln!(
            http_server,
            "scopes = [{}]\noauth_resource = {}   # then: codex mcp login deepvault-http",
            scopes.join(", "),
            q(&oauth.resource)
        );
    }
    let _ = writeln!(out, "{http_server}");

    let _ = writeln!(
        out,
        "## OpenAI Responses API (deep research): a `tools` entry; the URL must be public HTTPS\n"
    );
    let mut tool = serde_json::json!({
        "type": "mcp",
        "server_label": "deepvault",
        "server_description": "My Markdown notes",
        "server_url": public_mcp,
        "allowed_tools": ["search", "fetch"],
        "require_approval": "never",
    });
    if tokens {
        tool["headers"] = serde_json::json!({"Authorization": "Bearer $DEEPVAULT_TOKEN"});
    } else if oauth.is_some() {
        tool["authorization"] = serde_json::json!("<an access token from your issuer>");
    }
    let _ = writeln!(
        out,
        "{}\n",
        serde_json::to_string_pretty(&tool).expect("json")
    );
    let request = serde_json::json!({
        "model": "o4-mini-deep-research",
        "input": "What do my notes say about ...?",
        "tools": [tool],
    });
    let _ = writeln!(
        out,
        "# e.g.\ncurl https://api.openai.com/v1/responses \\\n  -H \"Authorization: Bearer $OPENAI_API_KEY\" -H \"Content-Type: application/json\" \\\n  -d '{}'\n",
        serde_json::to_string(&request).expect("json")
    );

    let _ = writeln!(
        out,
        "## Claude Desktop (claude_desktop_config.json), stdio\n"
    );
    let claude = serde_json::json!({
        "mcpServers": {"deepvault": {"command": binary, "args": ["serve", "--stdio", vault]}}
    });
    let _ = writeln!(
        out,
        "{}\n",
        serde_json::to_string_pretty(&claude).expect("json")
    );

    if chatgpt_uses_builtin(config) {
        out.push_str(&chatgpt_oauth_steps(config, vault));
        return out;
    }
    let _ = writeln!(
        out,
        "## ChatGPT (developer mode, connectors, deep research)\n"
    );
    let _ = writeln!(
        out,
        "ChatGPT connects from OpenAI's cloud, so it needs a public HTTPS URL: localhost, plain http \
and VPN-only hosts do not work.\n\
1. Put a tunnel or reverse proxy in front of {base}, for example\n     cloudflared tunnel --url {base}\n   or  ngrok http {port}\n\
2. Start deepvault with that public URL, so citations and the Host check use it:\n     deepvault serve {vault} --public-url https://YOUR-PUBLIC-HOST\n\
3. In ChatGPT: Settings → Apps → Advanced settings → Developer mode, then \"Create app\".\n   URL: {public_mcp}\n   Authentication: {auth}\n\
4. Use it in a chat or in deep research; after changing settings, \"Refresh\" the app.{note}",
        auth = match (oauth, tokens) {
            (Some(oauth), _) => format!(
                "OAuth. ChatGPT finds your issuer ({}) through {} and registers itself there; allow it (dynamic client registration or a client id), with scopes {}.",
                oauth.issuer,
                oauth.metadata_url,
                if oauth.scopes.is_empty() { "none".to_string() } else { oauth.scopes.join(" ") }
            ),
            (None, true) => "ChatGPT offers only OAuth or no authentication, not static tokens: add --auth builtin (deepvault's own OAuth server; run `deepvault auth passphrase` first), or set oauth_issuer (see the README).".to_string(),
            (None, false) => "No authentication (anyone who knows the URL can read the vault; drop --insecure-no-auth to get deepvault's own OAuth, see the README).".to_string(),
        },
        base = config.base_url(),
        port = config.listen.rsplit(':').next().unwrap_or("8765"),
        vault = shell_quote(vault),
        note = if public.is_none() {
            "\n\nThis configuration has no --public-url yet: replace YOUR-PUBLIC-HOST above."
        } else {
            ""
        }
    );
    out
}

/// Whether ChatGPT goes through the built-in OAuth server: it is configured, or nothing is
/// yet (a non-loopback `--public-url` then makes it the default).
fn chatgpt_uses_builtin(config: &Config) -> bool {
    config.auth.builtin
        || (config.public_url.is_none()
            && config.auth.tokens.is_empty()
            && config.auth.oauth.is_none()
            && !config.auth.insecure_no_auth)
}

/// The ChatGPT steps with deepvault as its own OAuth server (issue 17): passphrase, tunnel to
/// the local listen address, serve with the public URL, "OAuth" in the app dialog, and what the
/// consent page asks.
fn chatgpt_oauth_steps(config: &Config, vault: &str) -> String {
    let local = local_address(&config.listen);
    let public = config
        .public_url
        .clone()
        .unwrap_or_else(|| "https://YOUR-PUBLIC-HOST".into());
    let vault = shell_quote(vault);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## ChatGPT (developer mode, connectors, deep research), with deepvault's own OAuth\n"
    );
    let _ = writeln!(
        out,
        "ChatGPT connects from OpenAI's cloud: it needs a public HTTPS URL, and offers only OAuth or no\n\
authentication. deepvault is its own OAuth server here: you approve ChatGPT once with a passphrase.\n\n\
1. Set the passphrase the consent page will ask for (once; stored as an argon2 hash beside the index):\n     deepvault auth passphrase {vault}\n\
2. Start a tunnel to deepvault's local address, {local}, and note the https address it prints:\n     cloudflared tunnel --url http://{local}\n   or  ngrok http http://{local}\n\
3. Serve with that address as the public URL (built-in OAuth is then the default):\n     deepvault serve {vault} --public-url {public}\n\
4. In ChatGPT: Settings → Apps → Advanced settings → Developer mode, then \"Create app\".\n   MCP server URL: {public}/mcp\n   Authentication: OAuth (leave the client ID and secret empty: ChatGPT registers itself)\n\
5. ChatGPT opens deepvault's consent page at {public}/authorize. It names the app (ChatGPT) and\n   where it returns (chatgpt.com), says the app may search and read every note, read-only, and\n   asks for the owner passphrase. Type it and press Allow; ChatGPT stays connected (tokens refresh).\n\
6. Use the app in a chat or in deep research. `deepvault auth clients` lists what you approved;\n   `deepvault auth revoke all` ends it.{note}",
        note = if config.public_url.is_none() {
            "\n\nThis configuration has no --public-url yet: replace YOUR-PUBLIC-HOST above."
        } else {
            ""
        }
    );
    out
}

/// Where a tunnel on this machine reaches the server: the listen address, a wildcard host
/// replaced by loopback.
fn local_address(listen: &str) -> String {
    if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    #[test]
    fn configs_are_valid_and_name_the_vault() {
        let config = Config::load_with_env(
            &Overrides {
                values: crate::config::ConfigLayer {
                    public_url: Some("https://notes.example.com".into()),
                    ..Default::default()
                },
                ..Overrides::default()
            },
            &Default::default(),
        )
        .unwrap();
        let text = render(&config, "/home/me/My Notes", "/usr/local/bin/deepvault");
        // The TOML parts parse, and name the binary and the vault.
        let toml_part: String = text
            .split("## ")
            .nth(1)
            .unwrap()
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: toml::Table = toml_part.parse().expect("codex stdio config is TOML");
        let server = &parsed["mcp_servers"]["deepvault"];
        assert_eq!(server["command"].as_str(), Some("/usr/local/bin/deepvault"));
        assert_eq!(server["args"][2].as_str(), Some("/home/me/My Notes"));
        assert!(text.contains("\"require_approval\": \"never\""));
        assert!(text.contains("https://notes.example.com/mcp"));
        assert!(text.contains("public HTTPS URL"));
        assert!(text.contains("--public-url"));
        // A non-loopback public URL without other auth: deepvault's own OAuth, step by step,
        // the tunnel pointing at the local listen address, not at the public URL.
        assert!(
            text.contains("deepvault auth passphrase '/home/me/My Notes'"),
            "{text}"
        );
        assert!(
            text.contains("cloudflared tunnel --url http://127.0.0.1:8765\n"),
            "{text}"
        );
        assert!(
            text.contains("ngrok http http://127.0.0.1:8765\n"),
            "{text}"
        );
        assert!(text.contains("Authentication: OAuth"), "{text}");
        assert!(
            text.contains("https://notes.example.com/authorize"),
            "{text}"
        );
        assert!(text.contains("owner passphrase"), "{text}");
        assert!(text.contains("'/home/me/My Notes'"));
    }

    #[test]
    fn auth_shows_up_in_the_configs() {
        let env: std::collections::BTreeMap<String, String> = [(
            "DEEPVAULT_TOKENS".to_string(),
            "a-token-of-sixteen-chars".to_string(),
        )]
        .into();
        let config = Config::load_with_env(&Overrides::default(), &env).unwrap();
        let text = render(&config, "/v", "/bin/deepvault");
        assert!(
            text.contains("bearer_token_env_var = \"DEEPVAULT_TOKEN\""),
            "{text}"
        );
        assert!(
            text.contains("\"Authorization\": \"Bearer $DEEPVAULT_TOKEN\""),
            "{text}"
        );
        assert!(text.contains("not static tokens"), "{text}");
        assert!(
            !text.contains("a-token-of-sixteen-chars"),
            "tokens are never printed"
        );

        let env: std::collections::BTreeMap<String, String> = [
            (
                "DEEPVAULT_OAUTH_ISSUER".to_string(),
                "https://issuer.example".to_string(),
            ),
            (
                "DEEPVAULT_OAUTH_SCOPES".to_string(),
                "vault:read".to_string(),
            ),
            (
                "DEEPVAULT_PUBLIC_URL".to_string(),
                "https://notes.example.com".to_string(),
            ),
        ]
        .into();
        let config = Config::load_with_env(&Overrides::default(), &env).unwrap();
        let text = render(&config, "/v", "/bin/deepvault");
        assert!(
            text.contains("oauth_resource = \"https://notes.example.com/mcp\""),
            "{text}"
        );
        assert!(text.contains("Authentication: OAuth"), "{text}");
        assert!(
            text.contains("/.well-known/oauth-protected-resource/mcp"),
            "{text}"
        );
    }
}
