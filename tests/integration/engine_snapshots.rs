//! Snapshots (insta) of whole verdicts as `explain` prints them (proto3 JSON of
//! `VerificationResult`), for every seed response sample and the other fixtures. The
//! evaluation time is redacted; everything else, policy version included, is pinned.

use zoloz_verdict::cli::{error_json, explain_body};
use zoloz_verdict::config::parse_policies;
use zoloz_verdict::domain::{FaceCaptureApiVersion, PolicySet, Product};
use zoloz_verdict::pb;

use crate::harness::fixture;

fn explained(
    product: Product,
    name: &str,
    policies: &PolicySet,
    policy: Option<&str>,
) -> serde_json::Value {
    match explain_body(
        product,
        FaceCaptureApiVersion::Unknown,
        &fixture(name),
        policies,
        policy,
    ) {
        Ok(result) => pb::to_json(&result),
        Err(err) => error_json(&err),
    }
}

macro_rules! snapshot {
    ($test:ident, $product:expr, $fixture:literal) => {
        snapshot!($test, $product, $fixture, PolicySet::builtin(), None);
    };
    ($test:ident, $product:expr, $fixture:literal, $policies:expr, $policy:expr) => {
        #[test]
        fn $test() {
            let value = explained($product, $fixture, &$policies, $policy);
            insta::assert_json_snapshot!(stringify!($test), value, {
                ".evaluateTime" => "[evaluate_time]"
            });
        }
    };
}

snapshot!(
    seed_facecapture_v1,
    Product::FaceCapture,
    "seeds/facecapture-v1.response.json"
);
snapshot!(
    seed_facecapture_v1a,
    Product::FaceCapture,
    "seeds/facecapture-v1a.response.json"
);
snapshot!(
    seed_facecompare,
    Product::FaceCompare,
    "seeds/facecompare.response.json"
);
snapshot!(
    seed_connect,
    Product::Connect,
    "seeds/connect.response.json"
);
snapshot!(
    seed_idrecognition_verbatim,
    Product::IdRecognition,
    "seeds/idrecognition.response.verbatim.json"
);
snapshot!(
    seed_idrecognition_corrected,
    Product::IdRecognition,
    "seeds/idrecognition.response.corrected.json"
);
snapshot!(
    idrecognition_approved,
    Product::IdRecognition,
    "idrecognition-approved.json"
);
snapshot!(
    connect_older_api,
    Product::Connect,
    "connect-older-api.json"
);
snapshot!(
    connect_not_same_person,
    Product::Connect,
    "connect-not-same-person.json"
);
snapshot!(
    facecapture_attack,
    Product::FaceCapture,
    "facecapture-attack.json"
);
snapshot!(system_error, Product::Connect, "system-error.json");
snapshot!(
    seed_connect_strict_policy,
    Product::Connect,
    "seeds/connect.response.json",
    parse_policies(
        "[policies.strict]\nface_match_min_score = 90\n",
        "strict.toml"
    )
    .unwrap(),
    Some("strict")
);
snapshot!(
    seed_connect_unknown_policy,
    Product::Connect,
    "seeds/connect.response.json",
    PolicySet::builtin(),
    Some("strict")
);
