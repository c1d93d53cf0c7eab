//! `deepvault connect`: ready-to-paste client configurations for the configured address and
//! auth. Everything goes to stdout, so it can be piped into a file.

use std::fmt::Write as _;
use std::process::ExitCode;

use std::path::PathBuf;

use clap::Args;

use super::CommonArgs;
use crate::config::Config;

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
            (None, true) => "ChatGPT offers only OAuth or no authentication, not static tokens: set oauth_issuer (see the README), or serve ChatGPT from a second deepvault behind a tunnel that authenticates.".to_string(),
            (None, false) => "No authentication (anyone who knows the URL can read the vault; consider OAuth, see the README).".to_string(),
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

fn shell_quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
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
