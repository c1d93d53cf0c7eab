//! Issue 16, "the first hour, without friction": what a new user stumbled over, one test each.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use serde_json::{Value, json};

use crate::common::{TestVault, call, tool_json, unsafe_kill, wait_until};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `12345` → `12,345`, as the summary prints numbers.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Notes committed in an index.
fn committed_notes(index_dir: &std::path::Path, vault: &std::path::Path) -> u64 {
    let vault = std::fs::canonicalize(vault).unwrap();
    let stamp = deepvault::vault::ingest::Ingest::default().stamp();
    deepvault::index::VaultIndex::open_for_reading(index_dir, &vault, &stamp)
        .unwrap()
        .expect("an index exists")
        .searcher()
        .num_docs()
}

/// A vault large enough that its first index takes seconds.
fn large_vault(notes: usize) -> TestVault {
    let t = TestVault::new();
    let words = [
        "garden", "coffee", "travel", "compost", "kettle", "harbour", "lantern", "meadow",
        "orchard", "pepper", "quarry", "saddle", "thistle", "velvet", "walnut", "yonder",
    ];
    for i in 0..notes {
        let mut body = format!("---\ntags: [t{}]\n---\n# Note {i}\n", i % 13);
        for line in 0..12 {
            let line: Vec<&str> = (0..14)
                .map(|w| words[(i * 7 + line * 5 + w * 3) % words.len()])
                .collect();
            body.push_str(&line.join(" "));
            body.push_str(".\n");
        }
        body.push_str(&format!("## Part\nunique{i} words\n"));
        t.note(&format!("folder{}/note {i}.md", i % 40), &body);
    }
    t
}

/// The summary line `  N new, N changed, N touched, N removed, N unchanged`.
fn summary_counts(summary: &str) -> String {
    summary
        .lines()
        .find(|l| l.contains(" unchanged"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Item 3: Ctrl-C during the first index of `serve` stops it within 2 s, commits what is done,
/// and a restart resumes from there.
#[tokio::test]
async fn ctrl_c_during_the_first_index_of_serve() {
    let notes = 20_000u64;
    let t = large_vault(notes as usize);
    let server = t.serve(&[]);
    let client = reqwest::Client::new();
    let mut seen = Value::Null;
    // Evidence that it is mid-index: progress reported, not ready.
    let mid_index = wait_until(Duration::from_secs(120), async || {
        if let Ok(response) = client.get(server.url("/readyz")).send().await {
            seen = response.json().await.unwrap_or(Value::Null);
        }
        seen["progress"]["done"].as_u64().unwrap_or(0) > 0 || seen["ready"] == true
    })
    .await;
    assert!(mid_index, "no progress seen: {seen}");
    assert_ne!(
        seen["ready"], true,
        "the first index ended before the signal: make the vault larger"
    );
    let mut server = server;
    let signalled = Instant::now();
    unsafe_kill(server.child.id() as i32, 2);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(30),
            "serve did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = signalled.elapsed();
    // The log reader thread may lag the exit a little: wait for the line, not for a time.
    let said = wait_until(Duration::from_secs(10), async || {
        server.log().contains("finishing the current commit…")
    })
    .await;
    let log = server.log();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        took < Duration::from_secs(2),
        "serve took {took:?} to stop on SIGINT mid-index\n{log}"
    );
    assert!(said, "{log}");

    let committed = committed_notes(t.index_dir(), t.root());
    assert!(
        committed > 0 && committed < notes,
        "committed {committed} of {notes}"
    );
    // A restart resumes: what was committed is not read again.
    let out = t.run(&["index", t.root().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let counts = summary_counts(&stderr(&out));
    assert_eq!(
        counts,
        format!(
            "{} new, 0 changed, 0 touched, 0 removed, {} unchanged",
            group(notes - committed),
            group(committed)
        ),
        "took {took:?}"
    );
    eprintln!("serve stopped {took:?} after SIGINT with {committed} of {notes} notes committed");
}

/// Item 3: the same for `deepvault index`, which exits with 130 and says how to resume.
#[test]
fn ctrl_c_during_deepvault_index() {
    let notes = 20_000u64;
    let t = large_vault(notes as usize);
    let mut child = t
        .command(&["index", t.root().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let writer = log.clone();
    let pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            // Without a terminal, progress comes as lines: the evidence that it is mid-index.
            if line.starts_with("indexing: ") {
                let _ = tx.send(());
            }
            writer.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("no progress line: {}", log.lock().unwrap()));
    let signalled = Instant::now();
    unsafe_kill(child.id() as i32, 2);
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    reader.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(
        took < Duration::from_secs(2),
        "index took {took:?} to stop on SIGINT\n{log}"
    );
    assert!(log.contains("finishing the current commit…"), "{log}");
    assert!(
        log.contains("run `deepvault index` again to resume"),
        "{log}"
    );

    let committed = committed_notes(t.index_dir(), t.root());
    assert!(
        committed > 0 && committed < notes,
        "committed {committed}: {log}"
    );
    let out = t.run(&["index", t.root().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        summary_counts(&stderr(&out)),
        format!(
            "{} new, 0 changed, 0 touched, 0 removed, {} unchanged",
            group(notes - committed),
            group(committed)
        )
    );
}

/// Item 2: `serve --stdio` binds no port unless `--listen` is on its command line (the variable
/// and the config file are the user's own server's), and its citations open the note itself.
#[tokio::test]
async fn stdio_binds_no_port_and_cites_the_note_itself() {
    for obsidian in [false, true] {
        let t = TestVault::new();
        t.note(
            "Garden/Tomatoes.md",
            "# Tomatoes\nWatch for blight in August.\n",
        );
        if obsidian {
            t.note(".obsidian/app.json", "{}");
        }
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut command = t.command(&["serve", "--stdio", t.root().to_str().unwrap()]);
        command.env("DEEPVAULT_LISTEN", &listen);
        let mut command: tokio::process::Command = command.into();
        command.stderr(Stdio::null());
        let transport = rmcp::transport::TokioChildProcess::new(command).unwrap();
        let client = ().serve(transport).await.expect("stdio initialize");
        let mut found = Value::Null;
        let ok = wait_until(Duration::from_secs(30), async || {
            let result = call(&client, "search", json!({"query": "tomatoes blight"})).await;
            found = tool_json(&result);
            !found["results"].as_array().unwrap().is_empty()
        })
        .await;
        assert!(ok, "{found}");
        let url = found["results"][0]["url"].as_str().unwrap().to_string();
        if obsidian {
            let name = t.root().file_name().unwrap().to_str().unwrap();
            assert_eq!(
                url,
                format!("obsidian://open?vault={name}&file=Garden%2FTomatoes.md")
            );
        } else {
            let root = std::fs::canonicalize(t.root()).unwrap();
            assert_eq!(url, format!("file://{}/Garden/Tomatoes.md", root.display()));
        }
        let fetched = tool_json(&call(&client, "fetch", json!({"id": "Garden/Tomatoes.md"})).await);
        assert_eq!(fetched["url"], url.as_str());
        assert!(
            port_is_free(port),
            "serve --stdio took {listen} from DEEPVAULT_LISTEN"
        );
        client.cancel().await.unwrap();
    }

    // With --listen it serves the pages, and citations point at them.
    let t = TestVault::new();
    t.note(
        "Garden/Tomatoes.md",
        "# Tomatoes\nWatch for blight in August.\n",
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut command: tokio::process::Command = t
        .command(&[
            "serve",
            "--stdio",
            t.root().to_str().unwrap(),
            "--listen",
            &listen,
        ])
        .into();
    command.stderr(Stdio::null());
    let transport = rmcp::transport::TokioChildProcess::new(command).unwrap();
    let client = ().serve(transport).await.expect("stdio initialize");
    let mut found = Value::Null;
    let ok = wait_until(Duration::from_secs(30), async || {
        let result = call(&client, "search", json!({"query": "tomatoes"})).await;
        found = tool_json(&result);
        !found["results"].as_array().unwrap().is_empty()
    })
    .await;
    assert!(ok, "{found}");
    let url = found["results"][0]["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("http://{listen}/notes/Garden/Tomatoes.md")),
        "{url}"
    );
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    client.cancel().await.unwrap();
}

/// Item 5: a folder without notes is named, with the kinds of files that are indexed, at start
/// and on /readyz (and by `deepvault index`).
#[tokio::test]
async fn an_empty_vault_is_named_at_start_and_on_readyz() {
    let t = TestVault::new();
    t.note("readme.rtf", "not a note");
    let root = std::fs::canonicalize(t.root()).unwrap();
    let root = root.to_str().unwrap();
    let server = t.serve(&[]);
    let status = server.wait_ready().await;
    // `/readyz` names no path: the log names the folder.
    let notice = status["no_notes"].as_str().unwrap_or_default();
    assert!(
        !notice.contains(root)
            && notice.contains("`.md`")
            && notice.contains("`.markdown`")
            && notice.contains("`.canvas`"),
        "{status}"
    );
    let logged = wait_until(Duration::from_secs(10), async || {
        server.log().contains(&format!("no notes in {root}"))
    })
    .await;
    assert!(logged, "{}", server.log());

    // A note appears: the notice goes.
    t.note("first.md", "# First\n");
    let mut last = Value::Null;
    let cleared = wait_until(Duration::from_secs(30), async || {
        last = server.readyz().await.1;
        last["no_notes"].is_null() && last["notes"] == 1
    })
    .await;
    assert!(cleared, "{last}");

    let empty = TestVault::new();
    let out = empty.run(&["index", empty.root().to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("warning: no notes in"),
        "{}",
        stderr(&out)
    );
}

/// Item 5: `search` without `--vault` says which folder it indexes, and refuses a folder with
/// no notes instead of leaving an index of it in the cache.
#[test]
fn search_without_vault_names_the_folder_or_refuses() {
    let t = TestVault::new();
    t.note("notes.rtf", "no markdown here");
    let out = t.run(&["search", "anything"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let root = std::fs::canonicalize(t.root()).unwrap();
    assert!(err.contains(root.to_str().unwrap()), "{err}");
    assert!(err.contains("hint:") && err.contains("--vault"), "{err}");
    assert_eq!(
        std::fs::read_dir(t.index_dir()).unwrap().count(),
        0,
        "an index was created for a folder without notes"
    );

    t.note("Garden/Tomatoes.md", "# Tomatoes\nblight\n");
    let out = t.run(&["search", "blight"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("indexing {}", root.display())) && err.contains("--vault"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Garden/Tomatoes.md"));
}

/// Item 5: a `serve` that cannot listen (the port is in use) creates no index folder.
#[test]
fn a_serve_that_cannot_listen_creates_nothing() {
    let t = TestVault::new();
    t.note("a.md", "# A\n");
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = blocker.local_addr().unwrap().to_string();
    let index = t.index_dir().join("not-yet");
    let out = t.run(&[
        "serve",
        t.root().to_str().unwrap(),
        "--listen",
        &addr,
        "--index-dir",
        index.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the port is in use"),
        "{}",
        stderr(&out)
    );
    assert!(
        !index.exists(),
        "the failed serve created {}",
        index.display()
    );
}

/// Item 5: an unknown `DEEPVAULT_*` variable is named with the closest one; variables that are
/// read (`DEEPVAULT_RANKING`) are not.
#[test]
fn unknown_variables_are_named_with_the_closest_one() {
    let t = TestVault::new();
    t.note("a.md", "# A\nword\n");
    let out = t
        .command(&["search", "word", "--vault", t.root().to_str().unwrap()])
        .env("DEEPVAULT_MAX_RESULT", "3")
        .env("DEEPVAULT_RANKING", "{}")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("ignoring DEEPVAULT_MAX_RESULT") && err.contains("DEEPVAULT_MAX_RESULTS?"),
        "{err}"
    );
    assert!(!err.contains("DEEPVAULT_RANKING"), "{err}");
}

/// Item 6: with `--json`, errors are JSON on stdout, and the exit status says failure.
#[test]
fn json_errors_are_json() {
    let t = TestVault::new();
    t.note("a.md", "# A\n");
    let missing = t.root().join("missing");
    let out = t.run(&[
        "search",
        "x",
        "--json",
        "--vault",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&out.stdout).expect("the error is JSON");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("does not exist") && message.contains("missing"),
        "{error}"
    );
    assert!(
        error["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("pass the folder"),
        "{error}"
    );

    let out = t.run(&[
        "fetch",
        "Nope.md",
        "--json",
        "--vault",
        t.root().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&out.stdout).expect("the error is JSON");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no note with id `Nope.md`"),
        "{error}"
    );
    assert!(error["error"]["hint"].is_null(), "{error}");
}

/// Item 7: auth is in `--help`, with the variable of each option.
#[test]
fn help_shows_auth_and_the_variables() {
    let t = TestVault::new();
    for command in ["serve", "connect"] {
        let out = t.run(&[command, "--help"]);
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        for needle in [
            "--auth <MODE>",
            "[env: DEEPVAULT_AUTH]",
            "--tokens-file <FILE>",
            "[env: DEEPVAULT_TOKENS_FILE]",
            "--oauth-issuer <URL>",
            "[env: DEEPVAULT_OAUTH_ISSUER]",
            "--oauth-scopes <SCOPES>",
            "[env: DEEPVAULT_OAUTH_SCOPES]",
            "DEEPVAULT_TOKENS",
            "[env: DEEPVAULT_LISTEN]",
            "[env: DEEPVAULT_INDEX_DIR]",
        ] {
            assert!(
                help.contains(needle),
                "{command} --help lacks {needle}:\n{help}"
            );
        }
    }
}

/// Item 7: flags override the environment, which the config layer reads itself (its messages
/// name the variable); clap only shows the variables.
#[test]
fn auth_flags_keep_the_config_precedence() {
    let t = TestVault::new();
    t.note("a.md", "# A\n");
    let vault = t.root().to_str().unwrap();
    let connect = |flags: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "connect",
            vault,
            "--public-url",
            "https://notes.example.com",
        ];
        args.extend_from_slice(flags);
        let mut command = t.command(&args);
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let env = [("DEEPVAULT_OAUTH_ISSUER", "https://from-env.example/")];
    let out = connect(&["--oauth-issuer", "https://from-flag.example/"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("https://from-flag.example/"), "{text}");
    assert!(!text.contains("from-env"), "{text}");
    let out = connect(&[], &env);
    assert!(String::from_utf8_lossy(&out.stdout).contains("https://from-env.example/"));

    let out = connect(&[], &[("DEEPVAULT_AUTH", "sometimes")]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("DEEPVAULT_AUTH=`sometimes`"),
        "{}",
        stderr(&out)
    );
    let out = connect(&["--auth", "tokens"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no token is configured") && stderr(&out).contains("--tokens-file"),
        "{}",
        stderr(&out)
    );
}

/// Item 8: the OS error is on the error line; the hint comes after it, last.
#[test]
fn the_hint_follows_the_os_error() {
    let t = TestVault::new();
    let missing = t.root().join("no such folder");
    let out = t.run(&["serve", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let error_line = err.lines().find(|l| l.starts_with("error: ")).unwrap_or("");
    assert!(
        error_line.contains("does not exist") && error_line.contains("(os error 2)"),
        "{err}"
    );
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("hint: pass the folder") && last.ends_with("`deepvault serve ~/Notes`"),
        "{err}"
    );
}

/// The lines of `connect`'s output that run a program, as printed (indented commands).
fn printed_lines<'a>(text: &'a str, program: &str) -> Vec<&'a str> {
    text.lines()
        .map(str::trim)
        .filter(|line| line.starts_with(program))
        .collect()
}

/// Runs a line exactly as printed, through `sh`, with the test's index folder.
fn shell(t: &TestVault, line: &str) -> std::process::Command {
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(format!("exec {line}"))
        .env_remove("DEEPVAULT_LISTEN")
        .env_remove("DEEPVAULT_CONFIG")
        .env_remove("DEEPVAULT_PUBLIC_URL")
        .env_remove("DEEPVAULT_TOKENS")
        .env("DEEPVAULT_INDEX_DIR", t.index_dir())
        .env("DEEPVAULT_LOG", "deepvault=info")
        .current_dir(t.root());
    command
}

/// Item 1: `connect --public-url` with a quick tunnel prints commands that work when pasted:
/// the tunnel points at the local server, and the `serve` it prints admits the tunnel's Host
/// (a `serve` without `--public-url` answered 403 to it). With tokens, clients then search
/// through it; without, the printed passphrase command comes first and the printed `serve`
/// sends clients to its own OAuth server at the tunnel. Without a public URL, the next step is
/// a `connect` command that runs as printed, not a placeholder to edit.
#[tokio::test]
async fn connect_prints_commands_that_work_when_pasted() {
    let t = TestVault::new();
    t.note("Garden/Tomatoes.md", "# Tomatoes\nblight\n");
    let vault = t.root().to_str().unwrap();
    let tunnel = "https://quiet-fox-1234.trycloudflare.com";
    let listen = format!("127.0.0.1:{}", free_port());
    const TOKEN: &str = "a-token-of-sixteen-chars";
    let connect = [
        "connect",
        vault,
        "--listen",
        &listen,
        "--public-url",
        tunnel,
    ];
    let out = t
        .command(&connect)
        .env("DEEPVAULT_TOKENS", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!("cloudflared tunnel --url http://{listen}\n")),
        "the tunnel must point at the local server:\n{text}"
    );
    assert!(!text.contains(&format!("--url {tunnel}")), "{text}");
    assert!(!text.contains("YOUR-PUBLIC-HOST"), "{text}");
    assert!(!text.contains("on this machine: https://"), "{text}");
    assert!(
        text.contains("change every time cloudflared starts"),
        "{text}"
    );

    // The printed `serve`, pasted into a shell, answers the tunnel's Host.
    let binary = crate::common::binary();
    let binary = binary.to_str().unwrap();
    let serves: Vec<&str> = printed_lines(&text, &format!("{binary} serve "))
        .into_iter()
        .filter(|line| !line.contains("--stdio"))
        .collect();
    assert!(!serves.is_empty(), "no serve command:\n{text}");
    assert!(
        serves
            .iter()
            .all(|line| line.contains(&format!("--public-url {tunnel}"))),
        "{serves:?}"
    );
    let mut pasted = shell(&t, serves[0]);
    pasted.env("DEEPVAULT_TOKENS", TOKEN);
    let server = crate::common::Server::start(pasted);
    assert_eq!(server.addr, listen, "{}", server.log());
    let client = reqwest::Client::new();
    let response = client
        .get(server.url("/healthz"))
        .header("host", "quiet-fox-1234.trycloudflare.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", server.log());
    let found = crate::common::mcp_with_token(&server, TOKEN).await;
    let mut result = Value::Null;
    let ok = wait_until(Duration::from_secs(30), async || {
        result = tool_json(&call(&found, "search", json!({"query": "blight"})).await);
        !result["results"].as_array().unwrap().is_empty()
    })
    .await;
    assert!(ok, "{result}");
    let url = result["results"][0]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{tunnel}/notes/Garden/Tomatoes.md")),
        "citations name the public URL: {url}"
    );
    drop(server);

    // No tokens: deepvault's own OAuth server. The passphrase line, pasted with the passphrase
    // on stdin, comes before the first `serve`, which then starts and sends clients to sign in
    // at the tunnel.
    let out = t.run(&connect);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let passphrase = printed_lines(&text, &format!("{binary} auth passphrase "));
    assert_eq!(passphrase.len(), 1, "{text}");
    assert!(
        text.find(passphrase[0]).unwrap() < text.find(&format!("{binary} serve ")).unwrap(),
        "{text}"
    );
    let mut set = shell(&t, passphrase[0]);
    set.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = set.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"correct horse battery\n").unwrap();
    }
    let set = child.wait_with_output().unwrap();
    assert!(set.status.success(), "{}", stderr(&set));
    let serves: Vec<&str> = printed_lines(&text, &format!("{binary} serve "))
        .into_iter()
        .filter(|line| !line.contains("--stdio"))
        .collect();
    let server = crate::common::Server::start(shell(&t, serves[0]));
    // A new client: the old one's pooled connection went to the server stopped above.
    let response = reqwest::Client::new()
        .post(server.url("/mcp"))
        .header("host", "quiet-fox-1234.trycloudflare.com")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "{}", server.log());
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!("{tunnel}/.well-known/oauth-protected-resource")),
        "{challenge}"
    );
    drop(server);

    // No public URL yet: step 2 is a `connect` that runs as printed.
    let out = t.run(&["connect", vault, "--listen", &listen]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("YOUR-PUBLIC-HOST"), "{text}");
    let next = printed_lines(&text, &format!("{binary} connect "));
    assert_eq!(next.len(), 1, "{text}");
    let out = shell(&t, next[0]).output().unwrap();
    assert!(out.status.success(), "{}: {}", next[0], stderr(&out));
    let again = String::from_utf8_lossy(&out.stdout);
    assert!(again.contains("# public MCP:  https://"), "{again}");
    assert!(
        again.contains(&format!("cloudflared tunnel --url http://{listen}\n")),
        "{again}"
    );
}
