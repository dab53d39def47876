//! The documentation agrees with the code and stands on its own: the decision table in
//! `docs/decision-table.md` is the one the reason catalogue generates (`UPDATE_README=1 cargo
//! test readme` rewrites it), its policy example loads, `docs/configuration.md` carries the
//! parser's reference, every error reason and metric is documented, every link between the
//! documents resolves inside the repository, and the front door stays short.

use zoloz_verdict::config::parse_policies;
use zoloz_verdict::domain::reason::decision_table_markdown;

use crate::harness::root;

const BEGIN: &str = "<!-- decision-table:begin";
const END: &str = "<!-- decision-table:end -->";

fn doc(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

const DECISION_TABLE: &str = "docs/decision-table.md";

#[test]
fn decision_table_matches_the_catalogue() {
    let text = doc(DECISION_TABLE);
    let start = text
        .find(BEGIN)
        .expect("the decision table has a decision-table:begin marker");
    let body_start = start + text[start..].find("-->\n").unwrap() + "-->\n".len();
    let end = text
        .find(END)
        .expect("the decision table has a decision-table:end marker");
    let generated = decision_table_markdown();
    if text[body_start..end] != generated {
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{generated}{}", &text[..body_start], &text[end..]);
            std::fs::write(root().join(DECISION_TABLE), updated).unwrap();
            return;
        }
        panic!(
            "docs/decision-table.md differs from the catalogue (src/domain/reason.rs); \
             run `UPDATE_README=1 cargo test readme` and review the diff\n\nexpected:\n{generated}"
        );
    }
    // Every row names a catalogue code, once.
    let rows = generated.lines().skip(2).count();
    assert_eq!(rows, zoloz_verdict::domain::ReasonCode::ALL.len());
}

#[test]
fn policy_example_loads() {
    let text = doc(DECISION_TABLE);
    let section = &text[text.find("## Policies").expect("a Policies section")..];
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml example in the Policies section");
    let set = parse_policies(block, DECISION_TABLE).unwrap();
    assert!(set.get("standard").is_some());
}

#[test]
fn configuration_reference_matches_the_parser_reference() {
    let text = doc("docs/configuration.md");
    let begin = "<!-- config-reference:begin (src/config/reference.toml) -->\n```toml\n";
    let start = text
        .find(begin)
        .expect("docs/configuration.md has the config-reference markers")
        + begin.len();
    let end = text[start..]
        .find("```\n<!-- config-reference:end -->")
        .unwrap()
        + start;
    assert_eq!(
        &text[start..end],
        zoloz_verdict::config::REFERENCE,
        "paste src/config/reference.toml between the config-reference markers"
    );
}

#[test]
fn every_error_reason_and_metric_is_documented() {
    let errors = doc("docs/api.md");
    for reason in zoloz_verdict::error::ErrorReason::ALL {
        assert!(
            errors.contains(&format!("`{}`", reason.as_str())),
            "{reason} is not in the error table of docs/api.md"
        );
    }
    let operations = doc("docs/operations.md");
    let metrics = zoloz_verdict::telemetry::metrics::Metrics::new().encode();
    for line in metrics.lines().filter(|l| l.starts_with("# HELP ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        let documented = name.trim_end_matches("_total");
        assert!(
            operations.contains(&format!("`{documented}")),
            "metric {name} is not in the metrics table of docs/operations.md"
        );
    }
}

/// The Markdown documents of the repository: the README, BENCHMARKS.md and `docs/`.
fn documents() -> Vec<std::path::PathBuf> {
    let mut paths = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            paths.push(path);
        }
    }
    paths
}

/// The anchors GitHub makes of a document's headings.
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim().to_lowercase();
        out.push(
            title
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect(),
        );
    }
    out
}

#[test]
fn every_link_between_documents_resolves_inside_the_repository() {
    let link = regex_lite_links();
    let mut broken = Vec::new();
    for path in documents() {
        let text = std::fs::read_to_string(&path).unwrap();
        let dir = path.parent().unwrap();
        for target in link(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                path.clone()
            } else {
                dir.join(file)
            };
            let name = path.strip_prefix(root()).unwrap().display().to_string();
            let Ok(resolved) = resolved.canonicalize() else {
                broken.push(format!("{name}: {target} (no such file)"));
                continue;
            };
            if !resolved.starts_with(root().canonicalize().unwrap()) {
                broken.push(format!("{name}: {target} (outside the repository)"));
                continue;
            }
            if let Some(anchor) = anchor
                && resolved.extension().is_some_and(|e| e == "md")
                && !anchors(&std::fs::read_to_string(&resolved).unwrap())
                    .iter()
                    .any(|a| a == anchor)
            {
                broken.push(format!("{name}: {target} (no such heading)"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The targets of the Markdown links `[text](target)` outside code.
fn regex_lite_links() -> impl Fn(&str) -> Vec<String> {
    |text: &str| {
        let mut out = Vec::new();
        let mut fenced = false;
        for line in text.lines() {
            if line.starts_with("```") {
                fenced = !fenced;
            }
            if fenced {
                continue;
            }
            let mut rest = line;
            while let Some(at) = rest.find("](") {
                let after = &rest[at + 2..];
                let Some(end) = after.find(')') else { break };
                out.push(after[..end].trim().to_string());
                rest = &after[end..];
            }
        }
        out
    }
}

#[test]
fn the_front_doors_stay_short() {
    for (path, most) in [("README.md", 300), ("BENCHMARKS.md", 300)] {
        let lines = doc(path).lines().count();
        assert!(lines <= most, "{path} has {lines} lines (at most {most})");
    }
}
