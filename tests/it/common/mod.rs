//! Shared helpers: temporary vaults, the real binary, a real server on a real socket, and an MCP
//! client for it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

/// The `deepvault` binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_deepvault"))
}

/// A vault in a temporary folder, with its own index folder.
pub struct TestVault {
    dir: tempfile::TempDir,
    index: tempfile::TempDir,
}

impl TestVault {
    pub fn new() -> TestVault {
        TestVault {
            dir: tempfile::tempdir().expect("temp vault"),
            index: tempfile::tempdir().expect("temp index"),
        }
    }

    /// Writes a note (parents created).
    pub fn note(&self, id: &str, content: &str) -> &Self {
        self.write_bytes(id, content.as_bytes())
    }

    pub fn write_bytes(&self, id: &str, content: &[u8]) -> &Self {
        let path = self.path(id);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.path().join(id)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn index_dir(&self) -> &Path {
        self.index.path()
    }

    /// A `deepvault` command with this vault's index folder and a clean environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command
            .args(args)
            .env_remove("DEEPVAULT_LISTEN")
            .env_remove("DEEPVAULT_CONFIG")
            .env("DEEPVAULT_INDEX_DIR", self.index.path())
            .env("DEEPVAULT_LOG", "deepvault=info")
            .env_remove("RUST_LOG")
            .current_dir(self.dir.path());
        command
    }

    /// Runs a command to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run deepvault")
    }

    /// `deepvault search QUERY --json` on this vault, parsed.
    pub fn search_json(&self, query: &str) -> Value {
        let out = self.run(&[
            "search",
            query,
            "--json",
            "--vault",
            self.root().to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "search failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("search prints JSON")
    }

    /// `deepvault serve --stdio` on this vault, for an MCP client to spawn.
    pub fn stdio_command(&self) -> tokio::process::Command {
        self.command(&[
            "serve",
            "--stdio",
            self.root().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .into()
    }

    /// Starts `deepvault serve` on a free port.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec![
            "serve",
            self.root().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        Server::start(self.command(&args))
    }
}

/// Ids of a search result, in order.
pub fn result_ids(result: &Value) -> Vec<String> {
    result["results"]
        .as_array()
        .expect("results array")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

/// Ids `search` returns for a query, in order; none when the call is a tool error.
pub async fn search_ids(client: &RunningService<RoleClient, ()>, query: &str) -> Vec<String> {
    let result = call(client, "search", json!({ "query": query })).await;
    if result.is_error == Some(true) {
        return Vec::new();
    }
    result_ids(&tool_json(&result))
}

/// A running `deepvault serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    pub fn start(mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn deepvault serve");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(rest) = line.split(" at http://").nth(1) {
                    let addr = rest.split('/').next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                    sent = true;
                }
                log_writer.lock().unwrap().push_str(&line);
                log_writer.lock().unwrap().push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            // A wildcard bind is reached through loopback.
            Ok(addr) => addr.replacen("0.0.0.0:", "127.0.0.1:", 1),
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start: {}", log.lock().unwrap());
            }
        };
        Server {
            child,
            addr,
            stderr: log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `/readyz` once: its status code and body.
    pub async fn readyz(&self) -> (u16, Value) {
        let response = reqwest::get(self.url("/readyz")).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `/readyz` says 200.
    pub async fn wait_ready(&self) -> Value {
        let client = reqwest::Client::new();
        let mut last = Value::Null;
        let ok = wait_until(Duration::from_secs(60), async || {
            match client.get(self.url("/readyz")).send().await {
                Ok(response) => {
                    let ready = response.status() == 200;
                    last = response.json().await.unwrap_or(Value::Null);
                    ready
                }
                Err(_) => false,
            }
        })
        .await;
        assert!(ok, "server never became ready: {last}\n{}", self.log());
        last
    }

    /// An MCP client over streamable HTTP.
    pub async fn mcp(&self) -> RunningService<RoleClient, ()> {
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(self.url("/mcp"));
        ().serve(transport).await.expect("MCP client connects")
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id() as i32;
        unsafe_kill(pid, 15);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, no cleanup.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kill(pid, signal)` through the `kill` command (no libc dependency in tests).
pub fn unsafe_kill(pid: i32, signal: i32) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
pub async fn wait_until(timeout: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An MCP client over streamable HTTP that sends `Authorization: Bearer <token>`.
pub async fn mcp_with_token(server: &Server, token: &str) -> RunningService<RoleClient, ()> {
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            server.url("/mcp"),
        )
        .auth_header(token);
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(config);
    ().serve(transport)
        .await
        .expect("authenticated client connects")
}

/// Calls a tool.
pub async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    let params = CallToolRequestParams::new(tool.to_string())
        .with_arguments(arguments.as_object().cloned().unwrap_or_default());
    client.call_tool(params).await.expect("tool call answered")
}

/// The JSON inside a tool result's one text item, checked equal to `structuredContent`.
pub fn tool_json(result: &CallToolResult) -> Value {
    assert_eq!(result.content.len(), 1, "exactly one content item");
    let text = result.content[0]
        .as_text()
        .expect("a text content item")
        .text
        .clone();
    let parsed: Value = serde_json::from_str(&text).expect("text item holds JSON");
    assert_eq!(
        result.structured_content.as_ref(),
        Some(&parsed),
        "structuredContent equals the text JSON"
    );
    parsed
}

/// The text of an error result.
pub fn tool_error_text(result: &CallToolResult) -> String {
    assert_eq!(result.is_error, Some(true), "expected isError: {result:?}");
    result.content[0].as_text().expect("text").text.clone()
}
