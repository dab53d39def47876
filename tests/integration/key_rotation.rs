//! ZOLOZ key rotation end to end, on real ports: the simulator signs with a second ZOLOZ key
//! and names it in the `Signature` header's `keyVersion` pair, as the gateway does when it
//! rotates. The service refuses those answers until the version's public key is configured
//! (`zoloz_public_key_versions` in the configuration file), then accepts them, and keeps
//! accepting answers under the unversioned key.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tonic_types::StatusExt as _;
use zoloz_verdict::config::Config;
use zoloz_verdict::domain::Product;
use zoloz_verdict::pb;
use zoloz_verdict::simulator::SimulatorKeys;

use crate::harness::{TestService, request, service_toml, spawn_service};

/// A service whose simulator holds the rotated key `2` (signing unversioned at first); the
/// service knows the version-2 public key at `v2_public`, when given.
async fn service(rotated: &SimulatorKeys, v2_public: Option<&Path>) -> TestService {
    let key = Arc::clone(&rotated.zoloz_private);
    let v2_public = v2_public.map(Path::to_path_buf);
    spawn_service(
        move |sim| sim.zoloz_versioned_keys = BTreeMap::from([("2".to_string(), key)]),
        move |config| {
            let Some(path) = v2_public else { return };
            let base = config.tenants.by_name["default"]
                .client
                .base_url
                .to_string();
            let toml = service_toml(&base).replacen(
                "zoloz_public_key_file",
                &format!(
                    "zoloz_public_key_versions = {{ \"2\" = \"{}\" }}\nzoloz_public_key_file",
                    path.display()
                ),
                1,
            );
            *config = Config::from_toml(&toml, "rotation").unwrap();
        },
    )
    .await
}

async fn outcome(service: &TestService, transaction_id: &str) -> Result<pb::Decision, String> {
    match service
        .client()
        .get_verification_result(request(Product::Connect, transaction_id))
        .await
    {
        Ok(answer) => Ok(answer.get_ref().decision()),
        Err(status) => Err(status
            .get_details_error_info()
            .map(|i| i.reason)
            .unwrap_or_default()),
    }
}

#[tokio::test]
async fn answers_under_a_rotated_key_are_accepted_once_its_version_is_configured() {
    let rotated = SimulatorKeys::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = rotated.write_to(dir.path()).unwrap();

    // Before: the service knows only the unversioned key.
    let before = service(&rotated, None).await;
    assert_eq!(
        outcome(&before, "sim-connect-approve.r1").await,
        Ok(pb::Decision::Approved)
    );
    before.sim.sign_with(Some("2")).unwrap();
    assert_eq!(
        outcome(&before, "sim-connect-approve.r2").await,
        Err("UPSTREAM_SIGNATURE_INVALID".to_string()),
        "an answer under keyVersion 2 before its key is configured"
    );

    // After: version 2 configured from its public key file.
    let after = service(&rotated, Some(&files.zoloz_public)).await;
    after.sim.sign_with(Some("2")).unwrap();
    assert_eq!(
        outcome(&after, "sim-connect-approve.r3").await,
        Ok(pb::Decision::Approved)
    );
    // The unversioned key still verifies the answers that name no version.
    after.sim.sign_with(None).unwrap();
    assert_eq!(
        outcome(&after, "sim-connect-approve.r4").await,
        Ok(pb::Decision::Approved)
    );

    // Version 2 configured with the wrong key (the unversioned one): refused, not approved.
    let wrong = service(
        &rotated,
        Some(&crate::harness::vector_path("zoloz_public.spki.b64")),
    )
    .await;
    wrong.sim.sign_with(Some("2")).unwrap();
    assert_eq!(
        outcome(&wrong, "sim-connect-approve.r5").await,
        Err("UPSTREAM_SIGNATURE_INVALID".to_string())
    );

    // A version the simulator does not hold is refused at the simulator.
    assert!(wrong.sim.sign_with(Some("3")).is_err());
}
