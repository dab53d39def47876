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
