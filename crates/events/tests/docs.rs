//! `docs/events.md` documents every event type: this test holds it to the code.
//!
//! For every entry of [`catalogue`] the document must have a section whose heading is the
//! CloudEvents type in backticks, with `Topic:` and `Key:` lines that match the code and a
//! `field | type | meaning` table listing exactly the payload's fields. The document must not
//! name a type that the catalogue does not have.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use socialdevs_events::types::{catalogue, TypeInfo};

/// Every CloudEvents type of SocialDevs starts with this.
const TYPE_PREFIX: &str = "dev.socialdevs.";

fn document_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/events.md")
}

/// One `### \`<type>\`` section of the document.
#[derive(Debug, Default)]
struct Section {
    kind: String,
    /// 1-based line of the heading.
    line: usize,
    topic: Option<String>,
    key: Option<String>,
    /// Field names of the `field | type | meaning` table, in order; `None` without a table.
    fields: Option<Vec<String>>,
}

/// The text between one pair of backticks, when `text` is exactly that.
fn code_span(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then_some(inner)
}

/// The cells of a Markdown table row (`| a | b |`), trimmed; `\|` stays inside its cell.
fn cells(line: &str) -> Option<Vec<String>> {
    let row = line.trim().strip_prefix('|')?;
    let row = row.strip_suffix('|').unwrap_or(row);
    let mut out = vec![String::new()];
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                out.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    Some(out.into_iter().map(|c| c.trim().to_owned()).collect())
}

fn is_separator(cells: &[String]) -> bool {
    cells
        .iter()
        .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':')))
}

/// The heading's level and text, for ATX headings outside code blocks.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    (1..=6).contains(&level).then_some(())?;
    let rest = &line[level..];
    (rest.is_empty() || rest.starts_with(' ')).then_some((level, rest.trim()))
}

/// The value of a `Name: \`value\`` line.
fn labelled(line: &str, name: &str) -> Option<String> {
    let value = line.trim().strip_prefix(name)?.strip_prefix(':')?;
    Some(code_span(value).unwrap_or(value.trim()).to_owned())
}

/// The type sections of the document, in order.
fn sections(doc: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    // The level of the heading that opened the current type section.
    let mut open: Option<usize> = None;
    let mut in_fence = false;
    let mut table: Option<Vec<String>> = None;
    let mut header_seen = false;
    for (index, line) in doc.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some((level, text)) = heading(line) {
            if let (Some(section), Some(fields)) = (out.last_mut(), table.take()) {
                section.fields.get_or_insert(fields);
            }
            header_seen = false;
            match code_span(text).filter(|t| t.starts_with(TYPE_PREFIX)) {
                Some(kind) => {
                    out.push(Section {
                        kind: kind.to_owned(),
                        line: index + 1,
                        ..Section::default()
                    });
                    open = Some(level);
                }
                None if open.is_some_and(|l| level <= l) => open = None,
                None => {}
            }
            continue;
        }
        let Some(section) = open.and(out.last_mut()) else {
            continue;
        };
        if let Some(topic) = labelled(line, "Topic") {
            section.topic.get_or_insert(topic);
        } else if let Some(key) = labelled(line, "Key") {
            section.key.get_or_insert(key);
        } else if let Some(row) = cells(line) {
            if section.fields.is_some() {
                continue; // only the first field table counts
            }
            match &mut table {
                None if row == ["field", "type", "meaning"] => table = Some(Vec::new()),
                None => {}
                Some(_) if !header_seen && is_separator(&row) => header_seen = true,
                Some(fields) => {
                    let name = row.first().cloned().unwrap_or_default();
                    fields.push(code_span(&name).unwrap_or(&name).to_owned());
                }
            }
        } else if let Some(fields) = table.take() {
            section.fields = Some(fields);
        }
    }
    if let (Some(section), Some(fields)) = (out.last_mut(), table.take()) {
        section.fields.get_or_insert(fields);
    }
    out
}

/// Every `dev.socialdevs.…` type named anywhere in the document, with its first line.
fn named_types(doc: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for (index, line) in doc.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find(TYPE_PREFIX) {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(tail.len());
            let name = tail[..end].trim_end_matches('.');
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.to_owned(), index + 1));
            }
            rest = &tail[end..];
        }
    }
    out
}

/// Everything in which `doc` disagrees with `types`; empty when they agree.
fn problems(doc: &str, types: &[TypeInfo]) -> Vec<String> {
    let mut problems = Vec::new();
    let found = sections(doc);
    for info in types {
        let matching: Vec<&Section> = found.iter().filter(|s| s.kind == info.kind).collect();
        let section = match matching.as_slice() {
            [] => {
                problems.push(format!(
                    "{}: no section; add a heading \"### `{}`\" with its Topic, Key and \
                     field table",
                    info.kind, info.kind
                ));
                continue;
            }
            [one] => *one,
            [first, more @ ..] => {
                let lines: Vec<String> = more.iter().map(|s| s.line.to_string()).collect();
                problems.push(format!(
                    "{}: documented more than once (line {}, again at line {})",
                    info.kind,
                    first.line,
                    lines.join(", ")
                ));
                *first
            }
        };
        let at = format!("{} (line {})", info.kind, section.line);
        match &section.topic {
            Some(topic) if topic == info.topic => {}
            Some(topic) => problems.push(format!(
                "{at}: Topic says `{topic}`, the code publishes it on `{}`",
                info.topic
            )),
            None => problems.push(format!(
                "{at}: no line \"Topic: `{}`\" in its section",
                info.topic
            )),
        }
        match &section.key {
            Some(key) if key == info.key_field => {}
            Some(key) => problems.push(format!(
                "{at}: Key says `{key}`, the code keys it by `{}`",
                info.key_field
            )),
            None => problems.push(format!(
                "{at}: no line \"Key: `{}`\" in its section",
                info.key_field
            )),
        }
        let serde_json::Value::Object(example) = &info.example else {
            problems.push(format!(
                "{}: the catalogue's example is not a JSON object",
                info.kind
            ));
            continue;
        };
        let code: BTreeSet<&str> = example.keys().map(String::as_str).collect();
        let Some(fields) = &section.fields else {
            problems.push(format!(
                "{at}: no `field | type | meaning` table; its fields are: {}",
                code.iter().copied().collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        let documented: BTreeSet<&str> = fields.iter().map(String::as_str).collect();
        let missing: Vec<&str> = code.difference(&documented).copied().collect();
        let extra: Vec<&str> = documented.difference(&code).copied().collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{at}: fields missing from the table: {}",
                missing.join(", ")
            ));
        }
        if !extra.is_empty() {
            problems.push(format!(
                "{at}: the table lists fields the type does not have: {}",
                extra.join(", ")
            ));
        }
        let mut seen = BTreeSet::new();
        for field in fields {
            if !seen.insert(field.as_str()) {
                problems.push(format!("{at}: field `{field}` is listed twice"));
            }
        }
    }
    for (name, line) in named_types(doc) {
        if !types.iter().any(|t| t.kind == name) {
            problems.push(format!(
                "line {line}: names `{name}`, which is not in socialdevs_events::types::catalogue()"
            ));
        }
    }
    problems
}

#[test]
fn the_event_catalogue_in_docs_matches_the_code() {
    let path = document_path();
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read docs/events.md ({}): {err}", path.display()));
    let types = catalogue();
    assert!(!types.is_empty(), "the catalogue is empty");
    let problems = problems(&doc, &types);
    assert!(
        problems.is_empty(),
        "docs/events.md is out of step with socialdevs_events::types::catalogue() \
         ({} problem(s)):\n  - {}\n",
        problems.len(),
        problems.join("\n  - ")
    );
}

/// The check itself: a document that drifted from the code is caught, with a useful message.
#[test]
fn drift_is_reported() {
    let types = catalogue();
    let liked = types
        .iter()
        .find(|t| t.kind == "dev.socialdevs.post.liked.v1")
        .expect("post.liked.v1 is in the catalogue")
        .clone();
    let good = "# Events\n\n## Event types\n\n\
        ### `dev.socialdevs.post.liked.v1`\n\nTopic: `socialdevs.posts.v1`\n\nKey: `post_id`\n\n\
        Someone liked a post.\n\n\
        | field | type | meaning |\n| --- | --- | --- |\n\
        | `post_id` | uuid | the post |\n| `post_author_id` | uuid | its author |\n\
        | `user_id` | uuid | who |\n| `user_username` | string | their username |\n\
        | `liked_at` | timestamp | when |\n\n## Afterwards\n\n| field | type | meaning |\n\
        | --- | --- | --- |\n| `not_a_field` | x | a later table is not the type's |\n";
    assert_eq!(
        problems(good, std::slice::from_ref(&liked)),
        Vec::<String>::new()
    );

    let drifted = good
        .replace("| `user_username` | string | their username |\n", "")
        .replace("| `liked_at`", "| `liked_on`")
        .replace(
            "Topic: `socialdevs.posts.v1`",
            "Topic: `socialdevs.users.v1`",
        )
        .replace("Key: `post_id`", "")
        + "\nSee also `dev.socialdevs.post.shared.v1`.\n";
    let found = problems(&drifted, std::slice::from_ref(&liked)).join("\n");
    for expected in [
        "Topic says `socialdevs.users.v1`, the code publishes it on `socialdevs.posts.v1`",
        "no line \"Key: `post_id`\"",
        "fields missing from the table: liked_at, user_username",
        "the table lists fields the type does not have: liked_on",
        "names `dev.socialdevs.post.shared.v1`, which is not in",
    ] {
        assert!(
            found.contains(expected),
            "expected {expected:?} in:\n{found}"
        );
    }

    let missing = problems("# Events\n", std::slice::from_ref(&liked)).join("\n");
    assert!(
        missing.contains("dev.socialdevs.post.liked.v1: no section"),
        "{missing}"
    );
}
