//! JSON Canvas (`.canvas`, Obsidian's open canvas format) as a document.
//!
//! A canvas is rendered as Markdown, and that rendering is the document's body: what `fetch`
//! returns, what the page shows and what is indexed, through the same Markdown pass as a note.
//! Groups become headings (nested groups, deeper headings), the nodes inside each group become
//! paragraphs in reading order (top to bottom, then left to right): a text node's Markdown as
//! written, a file node as a `[[wikilink]]` (so the notes it shows count its canvas among their
//! backlinks), a link node as its URL. Labelled edges follow as a list under "Connections".
//!
//! Which group holds a node is decided by geometry (the smallest group whose rectangle contains
//! the node's), as Obsidian does. That costs nodes × groups; past [`MAX_CONTAINMENT_CHECKS`] the
//! groups are listed one after another instead, so a hostile canvas costs linear time.

use std::fmt::Write as _;

use serde_json::Value;

use super::note::Note;
use super::parse::{ParseOptions, build_note};

/// The most node-in-group tests a canvas may cost before nesting is given up.
const MAX_CONTAINMENT_CHECKS: usize = 20_000_000;
/// Headings go no deeper than this; deeper groups are headed at this level.
const MAX_HEADING_LEVEL: usize = 6;

#[derive(Clone, Debug)]
struct Node {
    kind: NodeKind,
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    /// The containing group, by index.
    parent: Option<usize>,
}

#[derive(Clone, Debug)]
enum NodeKind {
    Text(String),
    File { file: String, subpath: String },
    Link(String),
    Group(String),
}

/// Parses a canvas. Anything that is not a JSON object is an error naming the problem; nodes
/// and edges of unknown types or with missing fields are passed over.
pub(crate) fn parse_canvas(id: &str, bytes: &[u8], options: &ParseOptions) -> Result<Note, String> {
    let body = render_canvas(bytes)?;
    Ok(build_note(
        id,
        serde_json::Map::new(),
        &body,
        1,
        Vec::new(),
        options,
        false,
    )
    .0)
}

/// A canvas as Markdown: the body of its note (see the module's description).
pub(crate) fn render_canvas(bytes: &[u8]) -> Result<String, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        // Obsidian writes an empty file for a new canvas.
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(bytes).map_err(|err| format!("not valid JSON Canvas: {err}"))?
    };
    let Value::Object(canvas) = value else {
        return Err("not valid JSON Canvas: the file is not a JSON object".to_string());
    };
    let mut nodes = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for node in canvas
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |key: &str| node.get(key).and_then(Value::as_str).map(str::to_string);
        let number = |key: &str| node.get(key).and_then(Value::as_f64).unwrap_or(0.0);
        let kind = match node.get("type").and_then(Value::as_str) {
            Some("text") => NodeKind::Text(text("text").unwrap_or_default()),
            Some("file") => match text("file") {
                Some(file) if !file.trim().is_empty() => NodeKind::File {
                    file,
                    subpath: text("subpath").unwrap_or_default(),
                },
                _ => continue,
            },
            Some("link") => NodeKind::Link(text("url").unwrap_or_default()),
            Some("group") => NodeKind::Group(text("label").unwrap_or_default()),
            _ => continue,
        };
        if let Some(node_id) = text("id") {
            ids.insert(node_id, nodes.len());
        }
        nodes.push(Node {
            kind,
            x: number("x"),
            y: number("y"),
            width: number("width").max(0.0),
            height: number("height").max(0.0),
            parent: None,
        });
    }
    nest(&mut nodes);
    let mut body = String::new();
    render(&nodes, &mut body);

    let mut connections = String::new();
    for edge in canvas
        .get("edges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(label) = edge
            .get("label")
            .and_then(Value::as_str)
            .map(one_line)
            .filter(|l| !l.is_empty())
        else {
            continue;
        };
        let end = |key: &str| {
            edge.get(key)
                .and_then(Value::as_str)
                .and_then(|n| ids.get(n))
                .map(|&i| node_name(&nodes[i]))
                .unwrap_or_default()
        };
        let (from, to) = (end("fromNode"), end("toNode"));
        let _ = if from.is_empty() && to.is_empty() {
            writeln!(connections, "- {label}")
        } else {
            writeln!(connections, "- {label} ({from} → {to})")
        };
    }
    if !connections.is_empty() {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str("## Connections\n\n");
        body.push_str(&connections);
    }

    Ok(body)
}

/// `Boards/Plan.canvas` → `Plan`.
pub(crate) fn canvas_title(id: &str) -> String {
    let name = id.rsplit('/').next().unwrap_or(id);
    let cut = name.len().saturating_sub(".canvas".len());
    match name.get(cut..) {
        Some(ext) if cut > 0 && ext.eq_ignore_ascii_case(".canvas") => name[..cut].to_string(),
        _ => name.to_string(),
    }
}

/// Sets each node's parent: the smallest group (by area, then by order) that contains it.
fn nest(nodes: &mut [Node]) {
    let groups: Vec<usize> = (0..nodes.len())
        .filter(|&i| matches!(nodes[i].kind, NodeKind::Group(_)))
        .collect();
    if groups.is_empty() || groups.len().saturating_mul(nodes.len()) > MAX_CONTAINMENT_CHECKS {
        return;
    }
    let area = |n: &Node| n.width * n.height;
    for i in 0..nodes.len() {
        let node = &nodes[i];
        let mut best: Option<usize> = None;
        for &g in &groups {
            if g == i {
                continue;
            }
            let group = &nodes[g];
            // A group holds only what is smaller than itself (ties broken by order), so the
            // parent chain always ends.
            let larger = area(group) > area(node) || (area(group) == area(node) && g < i);
            let inside = node.x >= group.x
                && node.y >= group.y
                && node.x + node.width <= group.x + group.width
                && node.y + node.height <= group.y + group.height;
            if larger
                && inside
                && best.is_none_or(|b| {
                    let b = &nodes[b];
                    area(group) < area(b)
                })
            {
                best = Some(g);
            }
        }
        nodes[i].parent = best;
    }
}

/// Renders the nodes as Markdown: the top level in reading order, each group as a heading
/// followed by what it holds. Iterative, so a deep chain of groups cannot exhaust the stack.
fn render(nodes: &[Node], out: &mut String) {
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut top = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        match node.parent {
            Some(parent) => children[parent].push(i),
            None => top.push(i),
        }
    }
    let reading_order = |list: &mut Vec<usize>| {
        // Loose ones (not groups) first, then groups, each top to bottom, left to right.
        list.sort_by(|&a, &b| {
            let group = |i: usize| matches!(nodes[i].kind, NodeKind::Group(_));
            group(a)
                .cmp(&group(b))
                .then(nodes[a].y.total_cmp(&nodes[b].y))
                .then(nodes[a].x.total_cmp(&nodes[b].x))
                .then(a.cmp(&b))
        })
    };
    reading_order(&mut top);
    for list in &mut children {
        reading_order(list);
    }
    // (node, heading level), in reverse so that popping gives document order.
    let mut stack: Vec<(usize, usize)> = top.iter().rev().map(|&i| (i, 2)).collect();
    while let Some((i, level)) = stack.pop() {
        let block = match &nodes[i].kind {
            NodeKind::Text(text) => text.trim().to_string(),
            NodeKind::File { file, subpath } => file_link(file, subpath),
            NodeKind::Link(url) => match url.trim() {
                "" => String::new(),
                url if url.contains(char::is_whitespace) => format!("<{}>", one_line(url)),
                url => format!("<{url}>"),
            },
            NodeKind::Group(label) => {
                let label = one_line(label);
                let label = if label.is_empty() {
                    "Group".to_string()
                } else {
                    label
                };
                format!("{} {label}", "#".repeat(level.min(MAX_HEADING_LEVEL)))
            }
        };
        if !block.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&block);
            out.push('\n');
        }
        stack.extend(children[i].iter().rev().map(|&c| (c, level + 1)));
    }
}

/// A file node as a wikilink to its vault path; a path that a wikilink cannot hold becomes a
/// Markdown link from the vault root.
fn file_link(file: &str, subpath: &str) -> String {
    let file = one_line(file);
    let subpath = one_line(subpath);
    if file.contains(['[', ']', '|', '#', '^']) {
        let name = file
            .rsplit('/')
            .next()
            .unwrap_or(&file)
            .replace(['[', ']'], "");
        let path = file.trim_start_matches('/').replace(['<', '>'], "");
        return format!("[{name}](</{path}{subpath}>)");
    }
    format!("[[{file}{}]]", subpath.replace(['[', ']', '|'], ""))
}

/// A short name for an edge's end.
fn node_name(node: &Node) -> String {
    let name = match &node.kind {
        NodeKind::Text(text) => text
            .lines()
            .map(|l| l.trim().trim_start_matches('#').trim())
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string(),
        NodeKind::File { file, .. } => file.rsplit('/').next().unwrap_or(file).to_string(),
        NodeKind::Link(url) => url.clone(),
        NodeKind::Group(label) => label.clone(),
    };
    let name = one_line(&name);
    match name.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name,
    }
}

/// Text on one line, whitespace collapsed.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::note::{DocumentKind, LinkKind};

    fn parse(json: &str) -> Note {
        parse_canvas(
            "Boards/Plan.canvas",
            json.as_bytes(),
            &ParseOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn groups_become_headings_and_nodes_paragraphs_in_reading_order() {
        let note = parse(
            r##"{
              "nodes": [
                {"id":"g","type":"group","x":0,"y":0,"width":1000,"height":1000,"label":"Roasting"},
                {"id":"b","type":"text","x":10,"y":500,"width":100,"height":50,"text":"second, lower down"},
                {"id":"a","type":"text","x":10,"y":10,"width":100,"height":50,"text":"first **roast** note"},
                {"id":"f","type":"file","x":200,"y":10,"width":100,"height":50,"file":"Coffee/Beans.md","subpath":"#Origin"},
                {"id":"l","type":"link","x":2000,"y":0,"width":100,"height":50,"url":"https://example.com/roast"},
                {"id":"t","type":"text","x":2000,"y":-100,"width":100,"height":50,"text":"loose note"}
              ],
              "edges": [
                {"id":"e","fromNode":"a","toNode":"f","label":"explains"},
                {"id":"e2","fromNode":"a","toNode":"b"}
              ]
            }"##,
        );
        assert_eq!(note.kind, DocumentKind::Canvas);
        assert_eq!(note.title, "Plan");
        assert_eq!(
            note.body,
            "loose note\n\n<https://example.com/roast>\n\n## Roasting\n\nfirst **roast** note\n\n[[Coffee/Beans.md#Origin]]\n\nsecond, lower down\n\n## Connections\n\n- explains (first **roast** note → Beans.md)\n"
        );
        let headings: Vec<_> = note.headings.iter().map(|h| h.text.as_str()).collect();
        assert_eq!(headings, vec!["Roasting", "Connections"]);
        let file = note
            .links
            .iter()
            .find(|l| l.kind == LinkKind::Wiki)
            .unwrap();
        assert_eq!(file.key, "coffee/beans");
        assert_eq!(file.fragment.as_deref(), Some("Origin"));
        assert!(note.plain.contains("first roast note"));
        assert!(note.plain.contains("explains"));
    }

    #[test]
    fn nested_groups_go_deeper() {
        let note = parse(
            r#"{"nodes":[
                {"id":"outer","type":"group","x":0,"y":0,"width":100,"height":100,"label":"Outer"},
                {"id":"inner","type":"group","x":10,"y":10,"width":50,"height":50,"label":"Inner"},
                {"id":"t","type":"text","x":20,"y":20,"width":10,"height":10,"text":"deep"}
            ]}"#,
        );
        assert_eq!(note.body, "## Outer\n\n### Inner\n\ndeep\n");
    }

    #[test]
    fn malformed_canvases_are_errors_and_odd_ones_are_not() {
        let options = ParseOptions::default();
        let err = parse_canvas("x.canvas", b"{\"nodes\": [", &options).unwrap_err();
        assert!(err.contains("not valid JSON Canvas"), "{err}");
        let err = parse_canvas("x.canvas", b"[1, 2]", &options).unwrap_err();
        assert!(err.contains("not a JSON object"), "{err}");
        // Empty (a new canvas), unknown node types, fields of the wrong type: all fine.
        assert_eq!(parse_canvas("x.canvas", b"", &options).unwrap().body, "");
        let odd = parse(
            r#"{"nodes":[{"type":"sticker"},{"type":"text","text":7},{"type":"file"},{"type":"text","x":"a","text":"ok"}],"edges":{}}"#,
        );
        assert_eq!(odd.body, "ok\n");
    }

    #[test]
    fn file_paths_that_a_wikilink_cannot_hold() {
        assert_eq!(file_link("a/b c.md", ""), "[[a/b c.md]]");
        assert_eq!(file_link("a/x [1].md", ""), "[x 1.md](</a/x [1].md>)");
    }

    /// A canvas with 10k nodes (and 1k groups, every node tested against every group) parses in
    /// one piece; a deep chain of nested groups does not recurse.
    #[test]
    fn ten_thousand_nodes() {
        let mut nodes = Vec::new();
        for g in 0..1000 {
            let x = (g % 40) * 1000;
            let y = (g / 40) * 1000;
            nodes.push(format!(
                r#"{{"id":"g{g}","type":"group","x":{x},"y":{y},"width":900,"height":900,"label":"Group {g}"}}"#
            ));
            for n in 0..9 {
                nodes.push(format!(
                    r#"{{"id":"n{g}-{n}","type":"text","x":{},"y":{},"width":50,"height":50,"text":"node {g} {n} zebrafinch"}}"#,
                    x + 10 + n * 60,
                    y + 10
                ));
            }
        }
        let json = format!(r#"{{"nodes":[{}],"edges":[]}}"#, nodes.join(","));
        let note = parse(&json);
        assert_eq!(note.headings.len(), 1000);
        assert_eq!(note.plain.matches("zebrafinch").count(), 9000);
        // Group 7's nodes are under its heading.
        let at = note.body.find("## Group 7\n").unwrap();
        let next = note.body[at + 1..].find("## ").unwrap() + at + 1;
        assert_eq!(note.body[at..next].matches("node 7 ").count(), 9);

        // 4000 groups each inside the last: headings stop at level 6.
        let chain: Vec<String> = (0..4000)
            .map(|i| {
                let size = 100_000 - i * 10;
                format!(
                    r#"{{"id":"c{i}","type":"group","x":{i},"y":{i},"width":{size},"height":{size},"label":"L{i}"}}"#
                )
            })
            .collect();
        let note = parse(&format!(r#"{{"nodes":[{}]}}"#, chain.join(",")));
        assert_eq!(note.headings.len(), 4000);
        assert!(note.headings.iter().all(|h| h.level <= 6));
        assert!(
            note.body.starts_with("## L0\n\n### L1\n"),
            "{}",
            &note.body[..40]
        );
    }
}
