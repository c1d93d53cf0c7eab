//! Nothing secret leaves, on any channel: the table of secret kinds × places in a note × channels
//! out of the server, then the same channels for private notes.
//!
//! One vault is written here with a note per (kind, place): a distinct secret whose distinctive
//! part (its needle) appears nowhere else, and a canary word that finds the note. One real server
//! serves it: static tokens (so pages default to signed links: a citation link opens one note
//! without the token, the token opens every page as a public page would), an audit log, and a
//! custom pattern. Every cell asserts the needle is absent from the channel (ignoring case, so a
//! lowercased anchor counts), and where the place shows on that channel that the redaction
//! label is there, so that a channel showing nothing cannot pass. Failures are collected and
//! reported together, one line per cell.
//!
//! Private notes, private from the start (parsed and unparseable frontmatter) and turned private
//! while served, must be gone from every channel, including other notes' backlinks, links and
//! pages, and the citation link handed out while they were public.

use std::collections::BTreeSet;
use std::time::Duration;

use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

use crate::common::{Server, TestVault, call, mcp_with_token, tool_json, wait_until};

const TOKEN: &str = "suite-token-0123456789abcdef";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    GithubToken,
    AwsKey,
    OpenAiKey,
    SlackWebhook,
    Jwt,
    Assignment,
    Custom,
    PrivateKey,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::GithubToken,
        Kind::AwsKey,
        Kind::OpenAiKey,
        Kind::SlackWebhook,
        Kind::Jwt,
        Kind::Assignment,
        Kind::Custom,
        Kind::PrivateKey,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::GithubToken => "github-token",
            Kind::AwsKey => "aws-access-key",
            Kind::OpenAiKey => "openai-key",
            Kind::SlackWebhook => "slack-webhook",
            Kind::Jwt => "jwt",
            Kind::Assignment => "assignment",
            Kind::Custom => "custom",
            Kind::PrivateKey => "private-key",
        }
    }

    /// What the redaction leaves where the secret was (brackets aside: Markdown may eat them).
    fn label(self) -> String {
        match self {
            Kind::Assignment => "REDACTED".to_string(),
            kind => format!("REDACTED {}", kind.name()),
        }
    }

    /// The distinctive part: letters only (one word for the analyzer), of the length and case
    /// the pattern wants. The first ten characters are what the cells look for.
    fn needle(self, seed: u64) -> String {
        let (len, upper) = match self {
            Kind::AwsKey => (16, true),
            Kind::GithubToken => (36, false),
            Kind::PrivateKey => (48, false),
            _ => (30, false),
        };
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let letter = b'a' + ((state >> 33) % 26) as u8;
                (if upper {
                    letter.to_ascii_uppercase()
                } else {
                    letter
                }) as char
            })
            .collect()
    }

    fn secret(self, needle: &str) -> String {
        match self {
            Kind::GithubToken => format!("ghp_{needle}"),
            Kind::AwsKey => format!("AKIA{needle}"),
            Kind::OpenAiKey => format!("sk-proj-{needle}"),
            Kind::SlackWebhook => format!("https://hooks.slack.com/services/T0/B0/{needle}"),
            Kind::Jwt => format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{needle}"),
            Kind::Assignment => format!("password={needle}"),
            Kind::Custom => format!("vaultsecret-{needle}"),
            Kind::PrivateKey => format!(
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA{needle}\nAAAAB3NzaC1yc2E\n-----END RSA PRIVATE KEY-----"
            ),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Body,
    Heading,
    Alias,
    Tag,
    Wikilink,
    Embed,
    LinkUrl,
    ReferenceLink,
    FrontmatterScalar,
    FrontmatterList,
    FrontmatterMap,
    CalloutTitle,
    CodeBlock,
    TableCell,
    NoteTitle,
}

/// Which field of a search hit shows a place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    Text,
    Title,
    /// The citation URL's anchor, made from the heading.
    Url,
    Nowhere,
}

impl Place {
    const ALL: [Place; 15] = [
        Place::Body,
        Place::Heading,
        Place::Alias,
        Place::Tag,
        Place::Wikilink,
        Place::Embed,
        Place::LinkUrl,
        Place::ReferenceLink,
        Place::FrontmatterScalar,
        Place::FrontmatterList,
        Place::FrontmatterMap,
        Place::CalloutTitle,
        Place::CodeBlock,
        Place::TableCell,
        Place::NoteTitle,
    ];

    fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    /// A private key is a block of lines: only where blocks go.
    fn holds(self, kind: Kind) -> bool {
        kind != Kind::PrivateKey || matches!(self, Place::Body | Place::CodeBlock)
    }

    fn in_search(self, kind: Kind) -> Shown {
        match self {
            Place::Heading => Shown::Url,
            // `x=password=[REDACTED]` is still a URL: the reference stays a link, its URL no text.
            Place::ReferenceLink if kind == Kind::Assignment => Shown::Nowhere,
            Place::NoteTitle => Shown::Title,
            Place::Alias
            | Place::FrontmatterScalar
            | Place::FrontmatterList
            | Place::FrontmatterMap => Shown::Nowhere,
            _ => Shown::Text,
        }
    }

    /// The note: `secret` in this place, `canary` in the text that search finds.
    fn note(self, kind: Kind, secret: &str, needle: &str, canary: &str, n: usize) -> String {
        let frontmatter = match self {
            Place::Alias => format!("aliases: ['{secret}']\n"),
            Place::Tag => format!("tags: [cell, '{secret}']\n"),
            Place::FrontmatterScalar if kind == Kind::Assignment => {
                // The YAML form of an assignment: the key is YAML's, the value the secret.
                format!("password: {needle}\n")
            }
            Place::FrontmatterScalar => format!("field: '{secret}'\n"),
            Place::FrontmatterList => format!("items: [one, '{secret}']\n"),
            Place::FrontmatterMap => {
                format!("map:\n  inner: '{secret}'\n  deeper:\n    key: [x, '{secret}']\n")
            }
            Place::NoteTitle => format!("title: 'Title {secret}'\n"),
            _ => String::new(),
        };
        let body = match self {
            Place::Body => format!("{canary} sits beside {secret} in the text.\n"),
            Place::Heading => format!("## Heading {secret}\n\n{canary} under the heading.\n"),
            Place::Tag => format!("{canary} is tagged #{secret} here.\n"),
            Place::Wikilink => {
                format!("{canary} links [[{secret}]] and [[{secret}#{secret}|shown {secret}]].\n")
            }
            Place::Embed => format!("{canary} embeds ![[{secret}]] here.\n"),
            Place::LinkUrl => format!(
                "{canary} links [a page](https://example.com/cb?x={secret}) and [another]({secret}).\n"
            ),
            Place::ReferenceLink => format!(
                "{canary} cites [the reference][ref].\n\n[ref]: https://example.com/ref?x={secret}\n"
            ),
            Place::CalloutTitle => {
                format!("> [!note] Callout {secret}\n> {canary} inside the callout.\n")
            }
            Place::CodeBlock => format!("{canary} before the code.\n\n```\nconfig {secret}\n```\n"),
            Place::TableCell => {
                format!("| name | value |\n|---|---|\n| {canary} | {secret} |\n")
            }
            _ => format!("{canary} is this note's word.\n"),
        };
        let frontmatter = if frontmatter.is_empty() {
            String::new()
        } else {
            format!("---\n{frontmatter}---\n")
        };
        format!("{frontmatter}# Cell {n}\n\nThe cell's opening line.\n\n{body}")
    }
}

/// One note of the table.
struct Cell {
    kind: Kind,
    place: Place,
    id: String,
    secret: String,
    needle: String,
    canary: String,
}

impl Cell {
    fn name(&self) -> String {
        format!("{} × {}", self.kind.name(), self.place.name())
    }

    /// True when `output` shows the needle (its first ten letters, ignoring case).
    fn leaks(&self, output: &str) -> bool {
        output
            .to_lowercase()
            .contains(&self.needle[..10].to_lowercase())
    }
}

/// A unique word made of letters: `n` in base 26 after a prefix no needle starts with.
fn word(prefix: &str, n: usize) -> String {
    let mut word = prefix.to_string();
    let mut n = n + 26 * 26;
    while n > 0 {
        word.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    word
}

/// Collects the failures of every cell.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    /// The needle is absent, and where the place shows, the label is present.
    fn channel(&mut self, cell: &Cell, channel: &str, output: &str, shows: bool) {
        let leaked = cell.leaks(output);
        self.check(!leaked, || {
            format!(
                "{} × {channel}: the secret leaked: {}",
                cell.name(),
                excerpt(output, &cell.needle[..10])
            )
        });
        if shows && !leaked {
            let label = cell.kind.label();
            // As written, or as an anchor makes it (`redacted-github-token`).
            let slug = label.to_lowercase().replace(' ', "-");
            let found = output.contains(&label) || output.to_lowercase().contains(&slug);
            self.check(found, || {
                format!(
                    "{} × {channel}: no `{label}` where the secret was: {}",
                    cell.name(),
                    &output[..output.len().min(600)]
                )
            });
        }
    }
}

fn excerpt(output: &str, needle: &str) -> String {
    let lower = output.to_lowercase();
    match lower.find(&needle.to_lowercase()) {
        Some(at) => {
            let start = output.floor_char_boundary(at.saturating_sub(80));
            let end = output.ceil_char_boundary((at + 80).min(output.len()));
            format!("…{}…", &output[start..end])
        }
        None => String::new(),
    }
}

struct Suite {
    server: Server,
    client: RunningService<RoleClient, ()>,
    http: reqwest::Client,
}

impl Suite {
    async fn search(&self, query: &str) -> Value {
        tool_json(&call(&self.client, "search", json!({ "query": query })).await)
    }

    /// A fetch: the result JSON, or the error text.
    async fn fetch(&self, id: &str) -> Result<Value, String> {
        let result = call(&self.client, "fetch", json!({ "id": id })).await;
        if result.is_error == Some(true) {
            Err(result.content[0].as_text().unwrap().text.clone())
        } else {
            Ok(tool_json(&result))
        }
    }

    /// A page with the token (every page, links and backlinks: what `pages = "public"` shows).
    async fn page(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(self.server.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// A citation link opened as its reader would: no token, only the signature.
    async fn signed(&self, url: &str) -> (u16, String) {
        let url = url.split('#').next().unwrap();
        let response = self.http.get(url).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    fn note_path(id: &str) -> String {
        let mut path = String::from("/notes/");
        for (i, segment) in id.split('/').enumerate() {
            if i > 0 {
                path.push('/');
            }
            path.push_str(
                &percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        path
    }
}

fn hit<'a>(result: &'a Value, id: &str) -> Option<&'a Value> {
    result["results"]
        .as_array()?
        .iter()
        .find(|hit| hit["id"] == id)
}

/// A private note of the second table, and what must never be seen of it.
struct Private {
    id: &'static str,
    stem: &'static str,
    /// The word that finds it while it is public.
    canary: &'static str,
    /// Text that must not appear anywhere once it is private.
    phrase: &'static str,
    public: Option<String>,
    private: String,
}

fn private_notes() -> Vec<Private> {
    let note = |front: &str, canary: &str, phrase: &str| {
        format!(
            "{front}# Diary\n\n{canary} {phrase} with [[linked-target]] and a token ghp_privatenotetokenabcdefghijklmnopqrstuv.\n"
        )
    };
    vec![
        Private {
            id: "private/parsed.md",
            stem: "parsed",
            canary: "pelicanparsed",
            phrase: "diaryphraseparsed",
            public: None,
            private: note(
                "---\ndeepvault: private\n---\n",
                "pelicanparsed",
                "diaryphraseparsed",
            ),
        },
        Private {
            id: "private/broken.md",
            stem: "broken",
            canary: "pelicanbroken",
            phrase: "diaryphrasebroken",
            public: None,
            // A YAML error and the key in another case: still private.
            private: note(
                "---\nDeepvault: Private\ntitle: [unclosed\n---\n",
                "pelicanbroken",
                "diaryphrasebroken",
            ),
        },
        Private {
            id: "private/turns-parsed.md",
            stem: "turns-parsed",
            canary: "pelicanturnsparsed",
            phrase: "diaryphraseturnsparsed",
            public: Some(note("", "pelicanturnsparsed", "diaryphraseturnsparsed")),
            private: note(
                "---\ndeepvault: private\n---\n",
                "pelicanturnsparsed",
                "diaryphraseturnsparsed",
            ),
        },
        Private {
            id: "private/turns-broken.md",
            stem: "turns-broken",
            canary: "pelicanturnsbroken",
            phrase: "diaryphraseturnsbroken",
            public: Some(note(
                "---\ntags: [diary]\n---\n",
                "pelicanturnsbroken",
                "diaryphraseturnsbroken",
            )),
            // A duplicated key makes the YAML unparseable; the marker still holds.
            private: note(
                "---\ntags: [diary]\ntags: [private]\n---\n",
                "pelicanturnsbroken",
                "diaryphraseturnsbroken",
            ),
        },
    ]
}

#[tokio::test]
async fn nothing_secret_leaves_on_any_channel() {
    let t = TestVault::new();
    t.note(
        "deepvault.toml",
        "rate_limit_per_minute = 0\nredact_patterns = [\"vaultsecret-[a-z]{12,}\"]\n",
    );
    let mut cells = Vec::new();
    for kind in Kind::ALL {
        for place in Place::ALL.into_iter().filter(|p| p.holds(kind)) {
            let n = cells.len();
            let needle = kind.needle(n as u64 + 1);
            let secret = kind.secret(&needle);
            let canary = word("canary", n);
            let id = format!("cells/{}-{}.md", kind.name(), place.name());
            t.note(&id, &place.note(kind, &secret, &needle, &canary, n));
            cells.push(Cell {
                kind,
                place,
                id,
                secret,
                needle,
                canary,
            });
        }
    }
    let needles: BTreeSet<String> = cells.iter().map(|c| c.needle[..10].to_string()).collect();
    assert_eq!(needles.len(), cells.len(), "needles are distinct");
    let privates = private_notes();
    for note in &privates {
        t.note(note.id, note.public.as_deref().unwrap_or(&note.private));
    }
    t.note("linked-target.md", "# Target\n\nThe target of links.\n");
    t.note(
        "links-to-private.md",
        "# Links\n\nSee [[parsed]], [[broken]], [[turns-parsed]] and [[turns-broken]].\n",
    );

    let audit = t.index_dir().join("audit.jsonl");
    let mut command = t.command(&[
        "serve",
        t.root().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--audit-log",
        audit.to_str().unwrap(),
    ]);
    command.env("DEEPVAULT_TOKENS", TOKEN);
    let server = Server::start(command);
    server.wait_ready().await;
    let suite = Suite {
        client: mcp_with_token(&server, TOKEN).await,
        server,
        http: reqwest::Client::new(),
    };
    let mut report = Report::default();

    for cell in &cells {
        // search: the hit's text, title and citation URL.
        let result = suite.search(&cell.canary).await;
        let Some(found) = hit(&result, &cell.id) else {
            report
                .0
                .push(format!("{}: search does not find the note", cell.name()));
            continue;
        };
        let shown = cell.place.in_search(cell.kind);
        for (field, channel) in [
            ("text", Shown::Text),
            ("title", Shown::Title),
            ("url", Shown::Url),
        ] {
            let value = found[field].as_str().unwrap_or_default();
            report.channel(cell, &format!("search {field}"), value, shown == channel);
        }
        report.channel(cell, "search (whole result)", &result.to_string(), false);
        let url = found["url"].as_str().unwrap_or_default().to_string();

        // fetch: every field.
        match suite.fetch(&cell.id).await {
            Ok(fetched) => {
                report.channel(cell, "fetch", &fetched.to_string(), true);
                if cell.place == Place::Heading {
                    let anchor = fetched["metadata"]["headings"]
                        .as_array()
                        .and_then(|h| h.iter().find(|h| h["level"] == 2))
                        .and_then(|h| h["anchor"].as_str())
                        .unwrap_or_default()
                        .to_string();
                    report.channel(cell, "fetch anchor", &anchor, true);
                    match suite.fetch(&format!("{}#{anchor}", cell.id)).await {
                        Ok(section) => {
                            report.channel(cell, "fetch section", &section.to_string(), true)
                        }
                        Err(err) => report.0.push(format!(
                            "{}: the section by its anchor does not fetch: {err}",
                            cell.name()
                        )),
                    }
                }
            }
            Err(err) => report
                .0
                .push(format!("{}: fetch failed: {err}", cell.name())),
        }

        // Note pages: every page (the token), and the citation link alone (signed).
        let (status, page) = suite.page(&Suite::note_path(&cell.id)).await;
        report.check(status == 200, || {
            format!("{}: page status {status}", cell.name())
        });
        report.channel(cell, "note page", &page, true);
        let (status, page) = suite.signed(&url).await;
        report.check(status == 200, || {
            format!("{}: signed page status {status} for {url}", cell.name())
        });
        report.channel(cell, "signed note page", &page, true);

        // The search page.
        let (status, page) = suite.page(&format!("/?q={}", cell.canary)).await;
        report.check(status == 200, || {
            format!("{}: search page status {status}", cell.name())
        });
        report.channel(
            cell,
            if shown == Shown::Url {
                "search page url"
            } else {
                "search page"
            },
            &page,
            shown != Shown::Nowhere,
        );

        // Error hints: an unknown section lists the note's anchors; an unknown id echoes it.
        match suite.fetch(&format!("{}#no-such-heading", cell.id)).await {
            Err(err) => report.channel(
                cell,
                "error hint (sections)",
                &err,
                cell.place == Place::Heading,
            ),
            Ok(_) => report
                .0
                .push(format!("{}: an unknown section fetched", cell.name())),
        }
        match suite.fetch(&cell.secret).await {
            Err(err) => report.channel(cell, "error hint (the secret as an id)", &err, true),
            Ok(_) => report
                .0
                .push(format!("{}: the secret fetched a note", cell.name())),
        }

        // Searching for the secret confirms nothing: its distinctive part is not in the index.
        let result = suite.search(&cell.secret).await;
        report.channel(cell, "search for the secret", &result.to_string(), false);
        // (Asked on the search page, which runs the same tool: the audit log would otherwise
        // hold the bare needle as the client's own query.)
        let (_, page) = suite.page(&format!("/?q={}", cell.needle)).await;
        report.check(page.contains("<h2 id=\"results\">0 results"), || {
            format!(
                "{} × search for the secret's distinctive part finds notes: {}",
                cell.name(),
                &page[page.find("<h2 id=\"results\"").unwrap_or(0)..][..300.min(page.len())]
            )
        });
    }

    // /readyz: open to anyone; no secret, no path.
    let readyz = reqwest::get(suite.server.url("/readyz"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for cell in &cells {
        report.channel(cell, "readyz", &readyz, false);
    }
    for path in [t.root(), t.index_dir()] {
        let path = path.to_str().unwrap();
        report.check(!readyz.contains(path), || {
            format!("readyz names {path}: {readyz}")
        });
    }

    private_notes_leave_no_trace(&suite, &t, &privates, &mut report).await;

    // The audit log: every call above, with no secret in its arguments.
    let mut log = String::new();
    let written = wait_until(Duration::from_secs(20), async || {
        log = std::fs::read_to_string(&audit).unwrap_or_default();
        log.contains("pelicanturnsbrokenlast")
    })
    .await;
    assert!(written, "the audit log never caught up: {}", log.len());
    for cell in &cells {
        report.channel(cell, "audit log", &log, true);
    }
    for note in &privates {
        for line in log.lines().skip_while(|l| !l.contains("afterprivate")) {
            let line: Value = serde_json::from_str(line).unwrap();
            let ids = line["result_ids"].to_string();
            report.check(!ids.contains(note.id), || {
                format!(
                    "{}: in the audit log's results after it became private: {line}",
                    note.id
                )
            });
        }
    }

    assert!(
        report.0.is_empty(),
        "{} failures in the secrets table:\n{}",
        report.0.len(),
        report
            .0
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Private notes, private from the start and turned private while served: gone from every
/// channel at the next commit.
async fn private_notes_leave_no_trace(
    suite: &Suite,
    t: &TestVault,
    privates: &[Private],
    report: &mut Report,
) {
    // Before: the notes that turn private are served, which also shows that the checks below
    // can see them.
    let mut citation = std::collections::HashMap::new();
    for note in privates.iter().filter(|n| n.public.is_some()) {
        let result = suite.search(note.canary).await;
        let Some(found) = hit(&result, note.id) else {
            panic!("{} is not found while public: {result}", note.id);
        };
        citation.insert(note.id, found["url"].as_str().unwrap().to_string());
        let (status, page) = suite.signed(&citation[note.id]).await;
        assert!(
            status == 200 && page.contains(note.phrase),
            "{}: {status}",
            note.id
        );
        let target = suite.fetch("linked-target.md").await.unwrap();
        assert!(
            target["metadata"]["backlinks"]
                .to_string()
                .contains(note.id),
            "{target}"
        );
        let links = suite.fetch("links-to-private.md").await.unwrap();
        assert!(
            links["metadata"]["links"].to_string().contains(note.id),
            "{links}"
        );
    }
    // Turn them private, and wait for the commit that forgets them.
    for note in privates.iter().filter(|n| n.public.is_some()) {
        t.note(note.id, &note.private);
    }
    let mut last = Value::Null;
    let forgotten = wait_until(Duration::from_secs(30), async || {
        for note in privates.iter().filter(|n| n.public.is_some()) {
            last = suite.search(note.canary).await;
            if hit(&last, note.id).is_some() {
                return false;
            }
        }
        true
    })
    .await;
    assert!(forgotten, "still served after turning private: {last}");
    suite.search("afterprivate").await;

    for note in privates {
        let when = if note.public.is_some() {
            "turned private"
        } else {
            "private"
        };
        let result = suite.search(note.canary).await;
        seen(report, note, when, "search", &result.to_string());
        let result = suite.search(note.phrase).await;
        seen(
            report,
            note,
            when,
            "search for its text",
            &result.to_string(),
        );
        match suite.fetch(note.id).await {
            Ok(fetched) => seen(report, note, when, "fetch", &fetched.to_string()),
            Err(err) => report.check(!err.contains(note.phrase), || {
                format!("{} ({when}) × fetch error: {err}", note.id)
            }),
        }
        match suite.fetch(note.stem).await {
            Ok(fetched) => seen(report, note, when, "fetch by name", &fetched.to_string()),
            Err(err) => seen(report, note, when, "error hint (did you mean)", &err),
        }
        let (status, page) = suite.page(&Suite::note_path(note.id)).await;
        report.check(status == 404, || {
            format!("{} ({when}) × note page: {status}", note.id)
        });
        report.check(!page.contains(note.phrase), || {
            format!("{} ({when}) × note page shows it", note.id)
        });
        if let Some(url) = citation.get(note.id) {
            let (status, page) = suite.signed(url).await;
            report.check(status == 404, || {
                format!("{} ({when}) × its old citation link: {status}", note.id)
            });
            seen(report, note, when, "its old citation link", &page);
        }
        let (_, page) = suite.page(&format!("/?q={}", note.canary)).await;
        // The query is shown back; the note is not.
        report.check(
            !page.contains(note.phrase) && !page.contains(note.id),
            || format!("{} ({when}) × search page lists it", note.id),
        );
        // Other notes: backlinks, links, and their pages.
        let target = suite.fetch("linked-target.md").await.unwrap();
        seen(
            report,
            note,
            when,
            "another note's backlinks",
            &target["metadata"]["backlinks"].to_string(),
        );
        let links = suite.fetch("links-to-private.md").await.unwrap();
        seen(
            report,
            note,
            when,
            "another note's links",
            &links["metadata"]["links"].to_string(),
        );
        let (_, page) = suite.page(&Suite::note_path("linked-target.md")).await;
        seen(report, note, when, "another note's page (backlinks)", &page);
        let (_, page) = suite.page(&Suite::note_path("links-to-private.md")).await;
        seen(report, note, when, "another note's page (links)", &page);
        let readyz = reqwest::get(suite.server.url("/readyz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        seen(report, note, when, "readyz", &readyz);
    }
    // The last call, for the audit log to catch up to.
    suite.search("pelicanturnsbrokenlast").await;
}

/// Checks that nothing of a private note shows on a channel.
fn seen(report: &mut Report, note: &Private, when: &str, channel: &str, output: &str) {
    for text in [note.phrase, note.id] {
        report.check(!output.contains(text), || {
            format!(
                "{} ({when}) × {channel}: shows `{text}`: {}",
                note.id,
                &output[..output.len().min(600)]
            )
        });
    }
}

/// Finding 4: text is redacted before it is cut, so a cut never leaves a secret too short to be
/// recognised. A 40-character token is placed where a 300-character snippet, or a 1 MiB `fetch`
/// cut before redaction, would keep its first 39 characters.
#[tokio::test]
async fn a_cut_never_leaves_part_of_a_secret() {
    const NEEDLE: &str = "CutTokenAbCdEfGhIjKlMnOpQrStUvWx";
    let token = format!("ghp_{NEEDLE}1234");
    assert_eq!(token.len(), 40);
    let t = TestVault::new();
    // Snippets: the default 300 characters from the note's first word. The token starts at
    // every offset from 230 to 301, so one window ends 39 characters into it (a space 40 bytes
    // back is too far for the snippet to back off to it).
    let filler = "lorem ipsum dolor ".repeat(12);
    let mut canaries = Vec::new();
    for pad in 0..72 {
        let canary = word("snippetcut", pad);
        let head = format!("{canary} {} {filler}", "x".repeat(pad + 1));
        t.note(
            &format!("snippets/{pad}.md"),
            &format!("{head}{token} and the words that follow it.\n"),
        );
        canaries.push((canary, head.chars().count()));
    }
    assert!(canaries.iter().any(|(_, start)| *start + 39 == 300));
    // fetch: the default max_fetch_bytes (1 MiB) falls 39 characters into the token.
    let limit = 1024 * 1024;
    let line = "lorem ipsum dolor sit amet\n";
    let mut big = line.repeat((limit - 39) / line.len());
    big.push_str(&"z".repeat(limit - 39 - big.len() - 1));
    big.push(' ');
    assert_eq!(big.len() + 39, limit);
    big.push_str(&token);
    big.push('\n');
    big.push_str(&line.repeat(100));
    t.note("big.md", &big);

    let server = t.serve(&[]);
    server.wait_ready().await;
    let client = server.mcp().await;
    let mut redacted_in_a_snippet = false;
    for (canary, _) in &canaries {
        let result = tool_json(&call(&client, "search", json!({ "query": canary })).await);
        let text = result["results"][0]["text"].as_str().unwrap_or_default();
        assert!(
            result["results"][0]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("snippets/")),
            "{canary}: {result}"
        );
        assert!(
            !result.to_string().contains(&NEEDLE[..8]),
            "a snippet keeps part of the token: {text}"
        );
        redacted_in_a_snippet |= text.contains("REDACTED");
    }
    assert!(
        redacted_in_a_snippet,
        "no snippet reached the token's place"
    );

    let fetched = tool_json(&call(&client, "fetch", json!({ "id": "big.md" })).await);
    let text = fetched["text"].as_str().unwrap();
    assert_eq!(fetched["metadata"]["truncated"], true);
    assert!(text.len() <= limit);
    assert!(
        !text.contains(&NEEDLE[..8]),
        "the fetched text keeps part of the token: …{}",
        &text[text.len() - 60..]
    );
    assert!(
        text[text.len() - 200..].contains("[REDACTED github-token]"),
        "the token's place is not near the cut: …{}",
        &text[text.len() - 200..]
    );
}
