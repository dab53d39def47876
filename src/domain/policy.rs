//! Named policies: the decision table's thresholds and per-reason effects, validated once when
//! they are made. The built-in `default` policy is the decision table (docs/design.md) with both
//! thresholds off. Every verdict names its policy and the policy's version: a hash of what the
//! policy decides (thresholds and every reason's effective effect), so the same content always
//! gives the same version whatever its key order, formatting or name.

use std::collections::BTreeMap;
use std::fmt;

use crate::domain::ids::{MAX_NAME_LEN, is_valid_name};
use crate::domain::reason::{Effect, ReasonCode};

/// A policy the configuration (or code) asked for is unusable. The key names the offending
/// setting the way the config file spells it, e.g. `policies.strict.effects.FOO`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct PolicyError {
    /// The dotted path of the setting.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl PolicyError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// What a policy says before validation, with reason and effect names as written in a config
/// file (`DEVICE_RISK_MEDIUM = "reject"`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySpec {
    /// Minimum face match score (Face Compare `score`, Connect `faceScore`); `None` = off.
    pub face_match_min_score: Option<f64>,
    /// Minimum face quality score (Face Capture `quality`); `None` = off.
    pub face_quality_min_score: Option<f64>,
    /// Effect overrides: (reason code name, `info` / `review` / `reject`).
    pub effects: Vec<(String, String)>,
}

/// A validated, named policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    name: String,
    face_match_min_score: Option<f64>,
    face_quality_min_score: Option<f64>,
    overrides: BTreeMap<ReasonCode, Effect>,
    version: String,
}

impl Policy {
    /// The name of the built-in policy.
    pub const DEFAULT_NAME: &'static str = "default";

    /// The built-in policy: the decision table as the catalogue writes it, thresholds off.
    pub fn default_table() -> Policy {
        Policy::build(Self::DEFAULT_NAME.to_string(), None, None, BTreeMap::new())
    }

    /// Validates a policy: the name is 1 to 64 characters of `A-Z a-z 0-9 _ - .`; thresholds
    /// are numbers from 0 to 100; reason names come from the catalogue; effects are `info`,
    /// `review` or `reject`; `IN_PROGRESS` and `SESSION_EXPIRED` keep their effects; and
    /// `INCOMPLETE_RESULT` and `UNRECOGNIZED_UPSTREAM_VALUE` stay at `review` or above.
    pub fn new(name: &str, spec: &PolicySpec) -> Result<Policy, PolicyError> {
        let prefix = format!("policies.{name}");
        validate_name(name).map_err(|m| PolicyError::new(&prefix, m))?;
        let face_match = threshold(&prefix, "face_match_min_score", spec.face_match_min_score)?;
        let face_quality = threshold(
            &prefix,
            "face_quality_min_score",
            spec.face_quality_min_score,
        )?;
        let mut overrides = BTreeMap::new();
        for (code_name, effect_name) in &spec.effects {
            let key = format!("{prefix}.effects.{code_name}");
            let code: ReasonCode = code_name.parse().map_err(|_| {
                PolicyError::new(&key, format!("unknown reason code {code_name:?}"))
            })?;
            let effect = Effect::from_config_name(effect_name).ok_or_else(|| {
                PolicyError::new(
                    &key,
                    format!("unknown effect {effect_name:?}: expected info, review or reject"),
                )
            })?;
            if !code.effect_is_configurable() {
                return Err(PolicyError::new(
                    &key,
                    format!(
                        "the effect of {code} is fixed ({})",
                        code.default_effect().config_name()
                    ),
                ));
            }
            if effect.strength() < code.effect_floor().strength() {
                return Err(PolicyError::new(
                    &key,
                    format!(
                        "{code} cannot be lowered below {} (fail-safe floor)",
                        code.effect_floor().config_name()
                    ),
                ));
            }
            if overrides.insert(code, effect).is_some() {
                return Err(PolicyError::new(&key, "set more than once"));
            }
        }
        Ok(Policy::build(
            name.to_string(),
            face_match,
            face_quality,
            overrides,
        ))
    }

    fn build(
        name: String,
        face_match_min_score: Option<f64>,
        face_quality_min_score: Option<f64>,
        overrides: BTreeMap<ReasonCode, Effect>,
    ) -> Policy {
        let mut policy = Policy {
            name,
            face_match_min_score,
            face_quality_min_score,
            overrides,
            version: String::new(),
        };
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            policy.canonical_text().as_bytes(),
        );
        let hex = hex::encode(digest.as_ref());
        policy.version = format!("sha256:{}", &hex[..16]);
        policy
    }

    /// The policy's name (`default` for the built-in table).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stable content hash, `sha256:` and 16 hex digits of [`Policy::canonical_text`].
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The minimum face match score, if the policy sets one.
    pub fn face_match_min_score(&self) -> Option<f64> {
        self.face_match_min_score
    }

    /// The minimum face quality score, if the policy sets one.
    pub fn face_quality_min_score(&self) -> Option<f64> {
        self.face_quality_min_score
    }

    /// The effect of a reason under this policy.
    pub fn effect(&self, code: ReasonCode) -> Effect {
        self.overrides
            .get(&code)
            .copied()
            .unwrap_or_else(|| code.default_effect())
    }

    /// The effects the policy changes, in catalogue order.
    pub fn overrides(&self) -> impl Iterator<Item = (ReasonCode, Effect)> + '_ {
        self.overrides.iter().map(|(c, e)| (*c, *e))
    }

    /// The reasons this policy lets through to APPROVED although the decision table rejects
    /// them for good: a non-retryable REJECT reason (a liveness attack, a deepfake, a tampered
    /// or false document, another person's face, high device risk, attempts exhausted) set to
    /// `info`. Policies may (docs/design.md, Policies); the service warns about each one
    /// when it starts.
    pub fn final_rejections_set_to_info(&self) -> impl Iterator<Item = ReasonCode> + '_ {
        self.overrides.iter().filter_map(|(code, effect)| {
            (*effect == Effect::Info
                && code.default_effect() == Effect::Reject
                && !code.retryable())
            .then_some(*code)
        })
    }

    /// What the version hashes: one line per setting, thresholds first, then every reason's
    /// effective effect in catalogue order. The name is not part of it.
    pub fn canonical_text(&self) -> String {
        let mut text = String::from("zoloz-verdict policy v1\n");
        for (key, value) in [
            ("face_match_min_score", self.face_match_min_score),
            ("face_quality_min_score", self.face_quality_min_score),
        ] {
            match value {
                Some(v) => text.push_str(&format!("{key} = {v}\n")),
                None => text.push_str(&format!("{key} = off\n")),
            }
        }
        for code in ReasonCode::ALL {
            text.push_str(&format!("{code} = {}\n", self.effect(code).config_name()));
        }
        text
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::default_table()
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.version)
    }
}

fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "a policy name must be 1 to {MAX_NAME_LEN} characters"
        ));
    }
    if !is_valid_name(name) {
        return Err(format!(
            "policy name {name:?} may only use letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

/// Validates a threshold on ZOLOZ's 0 to 100 score scale. A value above 0 and at most 1 is
/// refused: it is a fraction written for a 0 to 1 scale (`0.8` for 80), and on ZOLOZ's scale it
/// would pass every score, switching the check off without a word.
fn threshold(prefix: &str, key: &str, value: Option<f64>) -> Result<Option<f64>, PolicyError> {
    let error = |message: String| PolicyError::new(format!("{prefix}.{key}"), message);
    match value {
        None => Ok(None),
        Some(v) if v > 0.0 && v <= 1.0 => Err(error(format!(
            "{v} reads as a fraction of 1, but ZOLOZ scores run from 0 to 100 (write 80, not \
             0.8, for 80 %); 0 or no setting switches the check off"
        ))),
        Some(v) if v.is_finite() && (0.0..=100.0).contains(&v) => {
            // -0.0 and 0.0 decide alike and must hash alike.
            Ok(Some(if v == 0.0 { 0.0 } else { v }))
        }
        Some(v) => Err(error(format!("must be a number from 0 to 100, got {v}"))),
    }
}

/// The named policies of a configuration and which one applies when a request names none.
/// The built-in `default` policy is always present; its name is reserved.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySet {
    policies: BTreeMap<String, Policy>,
    default: Policy,
}

impl PolicySet {
    /// Only the built-in `default` policy.
    pub fn builtin() -> PolicySet {
        let default = Policy::default_table();
        PolicySet {
            policies: BTreeMap::from([(default.name.clone(), default.clone())]),
            default,
        }
    }

    /// The built-in policy plus `policies`; `default_name` (the built-in `default` when `None`)
    /// applies when a request names none. Refuses a second policy of the same name, a policy
    /// named `default`, and a default that names no policy.
    pub fn new(
        policies: Vec<Policy>,
        default_name: Option<&str>,
    ) -> Result<PolicySet, PolicyError> {
        let mut set = PolicySet::builtin();
        for policy in policies {
            let key = format!("policies.{}", policy.name);
            if policy.name == Policy::DEFAULT_NAME {
                return Err(PolicyError::new(
                    key,
                    "the name \"default\" is reserved for the built-in table; name the policy \
                     differently and select it with default_policy",
                ));
            }
            if set.policies.contains_key(&policy.name) {
                return Err(PolicyError::new(key, "defined more than once"));
            }
            set.policies.insert(policy.name.clone(), policy);
        }
        if let Some(name) = default_name {
            set.default = set.policies.get(name).cloned().ok_or_else(|| {
                PolicyError::new("default_policy", format!("no policy named {name:?}"))
            })?;
        }
        Ok(set)
    }

    /// The policy of this name.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    /// The policy a request asks for: the named one, or the default for an empty name.
    pub fn resolve(&self, name: &str) -> Option<&Policy> {
        if name.is_empty() {
            Some(&self.default)
        } else {
            self.get(name)
        }
    }

    /// The policy that applies when a request names none.
    pub fn default_policy(&self) -> &Policy {
        &self.default
    }

    /// Every policy name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.policies.keys().map(String::as_str)
    }
}

impl Default for PolicySet {
    fn default() -> Self {
        PolicySet::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(effects: &[(&str, &str)]) -> PolicySpec {
        PolicySpec {
            effects: effects
                .iter()
                .map(|(c, e)| (c.to_string(), e.to_string()))
                .collect(),
            ..PolicySpec::default()
        }
    }

    #[test]
    fn default_table_matches_catalogue() {
        let policy = Policy::default_table();
        assert_eq!(policy.name(), "default");
        for code in ReasonCode::ALL {
            assert_eq!(policy.effect(code), code.default_effect());
        }
        assert!(policy.version().starts_with("sha256:"));
        assert_eq!(policy.version().len(), "sha256:".len() + 16);
    }

    #[test]
    fn overrides_apply_and_errors_name_the_key() {
        let p = Policy::new("strict", &spec(&[("DEVICE_RISK_MEDIUM", "reject")])).unwrap();
        assert_eq!(p.effect(ReasonCode::DeviceRiskMedium), Effect::Reject);
        let err = Policy::new("strict", &spec(&[("FOO", "reject")])).unwrap_err();
        assert_eq!(err.key, "policies.strict.effects.FOO");
        let err = Policy::new("strict", &spec(&[("INCOMPLETE_RESULT", "info")])).unwrap_err();
        assert_eq!(err.key, "policies.strict.effects.INCOMPLETE_RESULT");
        let err = Policy::new("strict", &spec(&[("IN_PROGRESS", "reject")])).unwrap_err();
        assert!(err.message.contains("fixed"), "{err}");
        let err = Policy::new("strict", &spec(&[("DEVICE_RISK_LOW", "block")])).unwrap_err();
        assert!(err.message.contains("unknown effect"), "{err}");
        let bad = PolicySpec {
            face_match_min_score: Some(f64::NAN),
            ..PolicySpec::default()
        };
        let err = Policy::new("strict", &bad).unwrap_err();
        assert_eq!(err.key, "policies.strict.face_match_min_score");
        assert!(Policy::new("", &PolicySpec::default()).is_err());
        assert!(Policy::new("a b", &PolicySpec::default()).is_err());
    }

    #[test]
    fn version_is_content_only() {
        let a = Policy::new(
            "a",
            &spec(&[
                ("DEVICE_RISK_MEDIUM", "reject"),
                ("DOC_MATERIAL_CHECK_FAILED", "review"),
            ]),
        )
        .unwrap();
        let b = Policy::new(
            "b",
            &spec(&[
                ("DOC_MATERIAL_CHECK_FAILED", "review"),
                ("DEVICE_RISK_MEDIUM", "reject"),
            ]),
        )
        .unwrap();
        assert_eq!(a.version(), b.version());
        // An override equal to the default decides alike.
        let same = Policy::new("c", &spec(&[("DEVICE_RISK_HIGH", "reject")])).unwrap();
        assert_eq!(same.version(), Policy::default_table().version());
        assert_ne!(a.version(), Policy::default_table().version());
        let zero = PolicySpec {
            face_match_min_score: Some(-0.0),
            ..PolicySpec::default()
        };
        let plus_zero = PolicySpec {
            face_match_min_score: Some(0.0),
            ..PolicySpec::default()
        };
        assert_eq!(
            Policy::new("z", &zero).unwrap().version(),
            Policy::new("z", &plus_zero).unwrap().version()
        );
    }

    #[test]
    fn thresholds_on_a_fraction_scale_are_refused() {
        let with = |v: f64| PolicySpec {
            face_match_min_score: Some(v),
            face_quality_min_score: Some(v),
            ..PolicySpec::default()
        };
        for fraction in [0.8, 1.0, 0.5, f64::MIN_POSITIVE] {
            let err = Policy::new("p", &with(fraction)).unwrap_err();
            assert_eq!(err.key, "policies.p.face_match_min_score");
            assert!(err.message.contains("fraction"), "{err}");
        }
        let quality_only = PolicySpec {
            face_quality_min_score: Some(0.6),
            ..PolicySpec::default()
        };
        let err = Policy::new("p", &quality_only).unwrap_err();
        assert_eq!(err.key, "policies.p.face_quality_min_score");
        for fine in [0.0, -0.0, 1.5, 80.0, 100.0] {
            let policy = Policy::new("p", &with(fine)).unwrap();
            assert_eq!(policy.face_match_min_score(), Some(fine.abs()));
        }
    }

    #[test]
    fn attack_signals_set_to_info_are_named() {
        let lax = Policy::new(
            "lax",
            &spec(&[
                ("LIVENESS_ATTACK", "info"),
                ("DOC_TAMPERED", "info"),
                ("DEEPFAKE_DETECTED", "review"),
                ("DOC_MATERIAL_CHECK_FAILED", "info"),
                ("DEVICE_RISK_MEDIUM", "info"),
            ]),
        )
        .unwrap();
        // Review still stops the approval; a retryable reason (a capture problem) or one that
        // never rejects by default is no attack signal.
        assert_eq!(
            lax.final_rejections_set_to_info().collect::<Vec<_>>(),
            [ReasonCode::LivenessAttack, ReasonCode::DocTampered]
        );
        let every_one_at_info: Vec<ReasonCode> = ReasonCode::ALL
            .into_iter()
            .filter(|code| {
                Policy::new("one", &spec(&[(code.as_str(), "info")]))
                    .is_ok_and(|p| p.final_rejections_set_to_info().any(|c| c == *code))
            })
            .collect();
        // The decision table's REJECT rows whose retryable column says no.
        use ReasonCode::*;
        assert_eq!(
            every_one_at_info,
            [
                LivenessAttack,
                DeviceRiskHigh,
                AttemptsExceeded,
                FaceMismatch,
                FaceScoreBelowThreshold,
                DeepfakeDetected,
                DocNotGenuine,
                DocTampered,
                DocScreenRecapture,
                DocInformationInvalid,
                DocSecurityFeatureFailed,
            ]
        );
        assert_eq!(
            Policy::default_table()
                .final_rejections_set_to_info()
                .count(),
            0
        );
    }

    #[test]
    fn policy_sets() {
        let strict = Policy::new("strict", &spec(&[])).unwrap();
        let set = PolicySet::new(vec![strict.clone()], Some("strict")).unwrap();
        assert_eq!(set.resolve("").unwrap().name(), "strict");
        assert_eq!(set.resolve("default").unwrap().name(), "default");
        assert!(set.resolve("nope").is_none());
        assert_eq!(set.names().collect::<Vec<_>>(), ["default", "strict"]);
        let err = PolicySet::new(vec![], Some("strict")).unwrap_err();
        assert_eq!(err.key, "default_policy");
        let err = PolicySet::new(vec![strict.clone(), strict], None).unwrap_err();
        assert_eq!(err.key, "policies.strict");
        let reserved = Policy::new("default", &spec(&[])).unwrap();
        assert!(PolicySet::new(vec![reserved], None).is_err());
        assert_eq!(PolicySet::builtin().default_policy().name(), "default");
    }
}
