//! The configuration file (TOML). For now its policies part: named policies with thresholds and
//! per-reason effect overrides, validated once at load. Top-level tables this module does not
//! know (`[server]`, `[tenants.*]`, …) are left to their own readers; inside a policy table an
//! unknown key is an error, so that a typo cannot silently weaken a policy.
//!
//! ```toml
//! default_policy = "standard"          # optional; else the built-in "default"
//!
//! [policies.standard]
//! face_match_min_score = 80.0          # optional, 0 to 100; off when absent
//! face_quality_min_score = 60.0        # optional, 0 to 100; off when absent
//!
//! [policies.standard.effects]          # optional; reason code = "info" | "review" | "reject"
//! DEVICE_RISK_MEDIUM = "reject"
//! DOC_MATERIAL_CHECK_FAILED = "review"
//! ```
//!
//! Errors name the file, the line and the key: `policies.toml:7: policies.standard.effects.FOO:
//! unknown reason code "FOO"`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::domain::{Policy, PolicyError, PolicySet, PolicySpec};

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type or an unknown key.
    #[error("{}: {}", path.display(), Located(*line, key, message))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// The dotted key, when known (`policies.strict.effects.FOO`).
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
}

/// `line: key: message`, leaving out what is unknown.
struct Located<'a>(Option<usize>, &'a Option<String>, &'a String);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.0 {
            write!(f, "line {line}: ")?;
        }
        if let Some(key) = self.1 {
            write!(f, "{key}: ")?;
        }
        f.write_str(self.2)
    }
}

#[derive(Debug, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    default_policy: Option<Spanned<String>>,
    #[serde(default)]
    policies: BTreeMap<String, Spanned<PolicyTable>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyTable {
    #[serde(default)]
    face_match_min_score: Option<Spanned<f64>>,
    #[serde(default)]
    face_quality_min_score: Option<Spanned<f64>>,
    #[serde(default)]
    effects: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// Reads the policies of a configuration file.
pub fn load_policies(path: &Path) -> Result<PolicySet, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_policies(&text, path)
}

/// Reads the policies of configuration text; `path` only names it in errors.
pub fn parse_policies(text: &str, path: &Path) -> Result<PolicySet, ConfigError> {
    let invalid =
        |span: Option<Range<usize>>, key: Option<String>, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: span.map(|s| line_of(text, s.start)),
            key,
            message,
        };
    let file: ConfigFile = toml::from_str(text)
        .map_err(|e| invalid(e.span(), None, e.message().trim().to_string()))?;

    let mut policies = Vec::with_capacity(file.policies.len());
    for (name, table) in &file.policies {
        let table_span = table.span();
        let table = table.get_ref();
        let spec = PolicySpec {
            face_match_min_score: table.face_match_min_score.as_ref().map(|v| *v.get_ref()),
            face_quality_min_score: table.face_quality_min_score.as_ref().map(|v| *v.get_ref()),
            effects: table
                .effects
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
                .collect(),
        };
        let policy = Policy::new(name, &spec).map_err(|e| {
            let prefix = format!("policies.{name}.");
            let setting = e.key.strip_prefix(&prefix).unwrap_or_default();
            let span = match setting {
                "face_match_min_score" => table.face_match_min_score.as_ref().map(Spanned::span),
                "face_quality_min_score" => {
                    table.face_quality_min_score.as_ref().map(Spanned::span)
                }
                _ => setting.strip_prefix("effects.").and_then(|code| {
                    table
                        .effects
                        .keys()
                        .find(|k| k.get_ref() == code)
                        .map(Spanned::span)
                }),
            };
            located(invalid, span.or(Some(table_span.clone())), e)
        })?;
        policies.push(policy);
    }
    let default_name = file.default_policy.as_ref().map(|d| d.get_ref().as_str());
    PolicySet::new(policies, default_name).map_err(|e| {
        let span = if e.key == "default_policy" {
            file.default_policy.as_ref().map(Spanned::span)
        } else {
            e.key
                .strip_prefix("policies.")
                .and_then(|name| file.policies.get(name))
                .map(Spanned::span)
        };
        located(invalid, span, e)
    })
}

fn located(
    invalid: impl Fn(Option<Range<usize>>, Option<String>, String) -> ConfigError,
    span: Option<Range<usize>>,
    e: PolicyError,
) -> ConfigError {
    invalid(span, Some(e.key), e.message)
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Effect, ReasonCode};

    fn parse(text: &str) -> Result<PolicySet, ConfigError> {
        parse_policies(text, Path::new("test.toml"))
    }

    #[test]
    fn the_documented_example_loads() {
        let set = parse(
            r#"
default_policy = "standard"
[server]
listen = "0.0.0.0:50051"
[policies.standard]
face_match_min_score = 80.0
face_quality_min_score = 60
[policies.standard.effects]
DEVICE_RISK_MEDIUM = "reject"
DOC_MATERIAL_CHECK_FAILED = "review"
"#,
        )
        .unwrap();
        let standard = set.default_policy();
        assert_eq!(standard.name(), "standard");
        assert_eq!(standard.face_match_min_score(), Some(80.0));
        assert_eq!(standard.face_quality_min_score(), Some(60.0));
        assert_eq!(
            standard.effect(ReasonCode::DeviceRiskMedium),
            Effect::Reject
        );
        assert!(set.get("default").is_some());
    }

    #[test]
    fn empty_file_is_the_builtin_table() {
        let set = parse("").unwrap();
        assert_eq!(set.default_policy(), &Policy::default_table());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "[policies.strict.effects]\nDEVICE_RISK_LOW = \"info\"\nFOO = \"reject\"\n",
                "test.toml: line 3: policies.strict.effects.FOO: unknown reason code \"FOO\"",
            ),
            (
                "[policies.strict.effects]\nINCOMPLETE_RESULT = \"info\"\n",
                "test.toml: line 2: policies.strict.effects.INCOMPLETE_RESULT: INCOMPLETE_RESULT \
                 cannot be lowered below review (fail-safe floor)",
            ),
            (
                "[policies.strict]\n\nface_match_min_score = 101\n",
                "test.toml: line 3: policies.strict.face_match_min_score: must be a number from \
                 0 to 100, got 101",
            ),
            (
                "[policies.strict]\nface_match_min_score = nan\n",
                "test.toml: line 2: policies.strict.face_match_min_score: must be a number from \
                 0 to 100, got NaN",
            ),
            (
                "default_policy = \"nope\"\n",
                "test.toml: line 1: default_policy: no policy named \"nope\"",
            ),
            (
                "[policies.default]\n",
                "test.toml: line 1: policies.default: the name \"default\" is reserved",
            ),
        ];
        for (text, expected) in cases {
            let message = parse(text).unwrap_err().to_string();
            assert!(
                message.starts_with(expected),
                "{message}\nexpected {expected}"
            );
        }
    }

    #[test]
    fn toml_errors_carry_the_line() {
        let message = parse("[policies.strict]\nface_match_min = 80\n")
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("test.toml: line 2: unknown field"),
            "{message}"
        );
        let message = parse("[policies.strict.effects]\nDEVICE_RISK_LOW = 3\n")
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("test.toml: line 2: "), "{message}");
        let message = parse("[policies.strict\n").unwrap_err().to_string();
        assert!(message.starts_with("test.toml: line 1: "), "{message}");
    }

    #[test]
    fn unreadable_file() {
        let err = load_policies(Path::new("/nonexistent/zoloz-verdict.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(
            err.to_string()
                .starts_with("/nonexistent/zoloz-verdict.toml: cannot read")
        );
    }
}
