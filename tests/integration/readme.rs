//! The README agrees with the code: its decision table is the one the reason catalogue
//! generates (`UPDATE_README=1 cargo test readme` rewrites it), and its policy example loads.

use zoloz_verdict::config::parse_policies;
use zoloz_verdict::domain::reason::decision_table_markdown;

use crate::harness::root;

const BEGIN: &str = "<!-- decision-table:begin";
const END: &str = "<!-- decision-table:end -->";

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

#[test]
fn decision_table_matches_the_catalogue() {
    let text = readme();
    let start = text
        .find(BEGIN)
        .expect("README has a decision-table:begin marker");
    let body_start = start + text[start..].find("-->\n").unwrap() + "-->\n".len();
    let end = text
        .find(END)
        .expect("README has a decision-table:end marker");
    let generated = decision_table_markdown();
    if text[body_start..end] != generated {
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{generated}{}", &text[..body_start], &text[end..]);
            std::fs::write(root().join("README.md"), updated).unwrap();
            return;
        }
        panic!(
            "the README's decision table differs from the catalogue (src/domain/reason.rs); \
             run `UPDATE_README=1 cargo test readme` and review the diff\n\nexpected:\n{generated}"
        );
    }
    // Every row names a catalogue code, once.
    let rows = generated.lines().skip(2).count();
    assert_eq!(rows, zoloz_verdict::domain::ReasonCode::ALL.len());
}

#[test]
fn policy_example_loads() {
    let text = readme();
    let section = &text[text.find("## Policies").expect("a Policies section")..];
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml example in the Policies section");
    let set = parse_policies(block, "README.md").unwrap();
    assert!(set.get("standard").is_some());
}

#[test]
fn configuration_reference_matches_the_parser_reference() {
    let text = readme();
    let begin = "<!-- config-reference:begin (src/config/reference.toml) -->\n```toml\n";
    let start = text
        .find(begin)
        .expect("README has the config-reference markers")
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
    let text = readme();
    for reason in zoloz_verdict::error::ErrorReason::ALL {
        assert!(
            text.contains(&format!("`{}`", reason.as_str())),
            "{reason} is not in the README's error table"
        );
    }
    let metrics = zoloz_verdict::telemetry::metrics::Metrics::new().encode();
    for line in metrics.lines().filter(|l| l.starts_with("# HELP ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        let documented = name.trim_end_matches("_total");
        assert!(
            text.contains(&format!("`{documented}")),
            "metric {name} is not in the README's metrics table"
        );
    }
}
