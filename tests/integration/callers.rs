//! Only callers that belong, on the real server: a call without an identity, or with one no
//! caller holds, is UNAUTHENTICATED; a known caller asking for a tenant or images it was not
//! granted is PERMISSION_DENIED; a caller over its own limit is shed; and the caller is named
//! in metrics and audit records. Identities are bearer tokens checked against their SHA-256
//! and client certificates (rcgen) matched by SPIFFE URI SAN, DNS SAN and subject CN.

use std::path::Path;
use std::time::Duration;

use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic_types::StatusExt as _;
use zoloz_verdict::domain::Product;
use zoloz_verdict::pb;
use zoloz_verdict::pb::verdict_service_client::VerdictServiceClient;

use crate::harness::{fixture, request, spawn_service_with_callers};
use crate::tls::{Ca, ca, leaf};

/// The token of the tests' token caller, and its SHA-256 as `sha256sum` prints it (computed
/// outside the code under test).
const TOKEN: &str = "s3cret-token";
const TOKEN_SHA256: &str = "a81e611a041b13f078bf8ebe5dab4d4fd63fcc5594661c918bec093a2f416a7e";

fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    request
}

fn assert_refused(result: Result<impl std::fmt::Debug, tonic::Status>, code: Code, why: &str) {
    let status = result.expect_err(why);
    assert_eq!(status.code(), code, "{why}: {status:?}");
    let expected = match code {
        Code::Unauthenticated => "CALLER_UNAUTHENTICATED",
        Code::PermissionDenied => "CALLER_NOT_PERMITTED",
        _ => "OVERLOADED",
    };
    assert_eq!(reason(&status), expected, "{why}: {status:?}");
}

fn images() -> Option<pb::ImageOptions> {
    Some(pb::ImageOptions {
        return_images: true,
        extra_images: Vec::new(),
    })
}

fn evaluate(tenant: &str) -> pb::EvaluateVerificationResultRequest {
    pb::EvaluateVerificationResultRequest {
        product: pb::Product::Connect as i32,
        response_body: fixture("seeds/connect.response.json").into(),
        tenant: tenant.to_string(),
        ..Default::default()
    }
}

#[tokio::test]
async fn tokens_are_checked_against_their_hash_and_grants_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    // The second caller's hash comes from a file, as a Kubernetes Secret mounts it:
    // sha256("other-token"), as `sha256sum` prints it.
    let other_hash = dir.path().join("other.sha256");
    std::fs::write(
        &other_hash,
        "6c67163bbed989f232b31acc4f04df54b31285bfc01bd022c735b71e041a4754  -\n",
    )
    .unwrap();
    let audit = dir.path().join("audit.jsonl");
    let callers = format!(
        r#"
[[callers]]
name = "onboarding"
token_sha256 = "{TOKEN_SHA256}"
tenants = ["default"]
images = false

[[callers]]
name = "back-office"
token_sha256_file = {other_hash:?}
tenants = ["v1"]
default_tenant = "v1"
images = true
"#
    );
    let audit_file = audit.clone();
    let service = spawn_service_with_callers(&callers, move |c| {
        c.audit.enabled = true;
        c.audit.file = Some(audit_file);
    })
    .await;
    let mut client = service.client();
    let get = || request(Product::Connect, "sim-connect-approve");

    // No identity; a token nobody holds; a malformed authorization value.
    assert_refused(
        client.get_verification_result(get()).await,
        Code::Unauthenticated,
        "no identity",
    );
    assert_refused(
        client
            .get_verification_result(with_token(get(), "s3cret-tokeN"))
            .await,
        Code::Unauthenticated,
        "a token that is not the caller's",
    );
    let mut basic = tonic::Request::new(get());
    basic.metadata_mut().insert(
        "authorization",
        MetadataValue::from_static("Basic czNjcmV0"),
    );
    assert_refused(
        client.get_verification_result(basic).await,
        Code::Unauthenticated,
        "not a bearer token",
    );
    assert_refused(
        client.evaluate_verification_result(evaluate("")).await,
        Code::Unauthenticated,
        "evaluate without identity",
    );

    // The right token: served, for the service's default tenant.
    let result = client
        .get_verification_result(with_token(get(), TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(result.decision(), pb::Decision::Approved);
    assert_eq!(result.tenant, "default");

    // The wrong tenant, configured or not: the same refusal (nothing learned about tenants).
    for tenant in ["v1", "no-such-tenant"] {
        let mut asked = get();
        asked.tenant = tenant.into();
        assert_refused(
            client
                .get_verification_result(with_token(asked, TOKEN))
                .await,
            Code::PermissionDenied,
            tenant,
        );
        assert_refused(
            client
                .evaluate_verification_result(with_token(evaluate(tenant), TOKEN))
                .await,
            Code::PermissionDenied,
            tenant,
        );
    }
    // Images not granted.
    let mut with_images = get();
    with_images.image_options = images();
    assert_refused(
        client
            .get_verification_result(with_token(with_images.clone(), TOKEN))
            .await,
        Code::PermissionDenied,
        "images",
    );
    // Evaluate under the granted default tenant works.
    let evaluated = client
        .evaluate_verification_result(with_token(evaluate(""), TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(evaluated.decision(), pb::Decision::Approved);

    // The token from the file: its own default tenant, and images.
    let mut face = request(Product::FaceCapture, "sim-face-capture-approve");
    face.image_options = images();
    let result = client
        .get_verification_result(with_token(face, "other-token"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(result.tenant, "v1", "the caller's default tenant");
    assert!(!result.images.is_empty(), "images granted");
    let mut default_tenant = get();
    default_tenant.tenant = "default".into();
    assert_refused(
        client
            .get_verification_result(with_token(default_tenant, "other-token"))
            .await,
        Code::PermissionDenied,
        "back-office asks for the default tenant",
    );

    // Metrics label by the configured names only; never a token or its hash.
    let metrics = service.scrape_metrics().await;
    for line in [
        r#"zoloz_verdict_rpcs_total{method="get",outcome="OK",caller="onboarding"} 1"#,
        r#"zoloz_verdict_rpcs_total{method="get",outcome="OK",caller="back-office"} 1"#,
        r#"zoloz_verdict_rpcs_total{method="get",outcome="CALLER_UNAUTHENTICATED",caller="unidentified"} 3"#,
        r#"zoloz_verdict_rpcs_total{method="get",outcome="CALLER_NOT_PERMITTED",caller="onboarding"} 3"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(!metrics.contains(TOKEN) && !metrics.contains(TOKEN_SHA256));

    // Audit records name the caller.
    let mut service = service;
    service.running.take().unwrap().shutdown().await.unwrap();
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let callers: Vec<&str> = records
        .iter()
        .map(|r| r["caller"].as_str().unwrap())
        .collect();
    assert_eq!(
        callers,
        ["onboarding", "onboarding", "back-office"],
        "{records:?}"
    );
}

/// A leaf certificate with a URI SAN (a SPIFFE ID) and a subject CN, signed by `ca`.
fn spiffe_leaf(ca: &Ca, uri: &str, cn: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .subject_alt_names
        .push(SanType::URI(uri.try_into().unwrap()));
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn certificates_identify_callers_by_spiffe_id_dns_name_and_cn() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = ca("callers test server CA");
    let client_ca = ca("callers test client CA");
    let (server_cert, server_key) = leaf(&server_ca, &["localhost"]);
    let onboarding = spiffe_leaf(
        &client_ca,
        "spiffe://test.local/ns/kyc/sa/onboarding",
        "shared-cn",
    );
    let impostor = spiffe_leaf(
        &client_ca,
        "spiffe://test.local/ns/kyc/sa/onboarding-x",
        "someone",
    );
    let by_dns = leaf(&client_ca, &["reports.kyc.svc"]);
    let by_cn = spiffe_leaf(&client_ca, "spiffe://test.local/ns/ops/sa/ops", "ops-cn");
    let callers = format!(
        r#"
[server.tls]
cert_file = {cert:?}
key_file = {key:?}
client_ca_file = {ca:?}

[[callers]]
name = "onboarding"
uri_sans = ["spiffe://test.local/ns/kyc/sa/onboarding"]
tenants = ["default"]
max_watches = 1

[[callers]]
name = "reports"
dns_sans = ["reports.kyc.svc"]
tenants = ["v1"]

[[callers]]
name = "ops"
common_names = ["ops-cn"]
token_sha256 = "{TOKEN_SHA256}"
tenants = ["*"]
"#,
        cert = write(dir.path(), "server.crt", &server_cert),
        key = write(dir.path(), "server.key", &server_key),
        ca = write(dir.path(), "client-ca.crt", &client_ca.pem),
    );
    let service = spawn_service_with_callers(&callers, |_| {}).await;
    let connect = |identity: &(String, String)| {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&server_ca.pem))
            .identity(Identity::from_pem(&identity.0, &identity.1))
            .domain_name("localhost");
        let channel = Endpoint::from_shared(format!("https://{}", service.addr))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_lazy();
        VerdictServiceClient::new(channel)
    };
    let get = |tenant: &str| {
        let mut r = request(Product::Connect, "sim-connect-approve");
        r.tenant = tenant.into();
        r
    };

    // The SPIFFE ID identifies onboarding; a longer one signed by the same CA is nobody.
    let mut client = connect(&onboarding);
    let result = client.get_verification_result(get("")).await.unwrap();
    assert_eq!(result.get_ref().tenant, "default");
    assert_refused(
        client.get_verification_result(get("v1")).await,
        Code::PermissionDenied,
        "onboarding asks for v1",
    );
    assert_refused(
        connect(&impostor).get_verification_result(get("")).await,
        Code::Unauthenticated,
        "a SPIFFE ID no caller has",
    );
    // A DNS SAN: reports, granted v1 only (and the service's default tenant is not its).
    let mut reports = connect(&by_dns);
    reports.get_verification_result(get("v1")).await.unwrap();
    assert_refused(
        reports.get_verification_result(get("")).await,
        Code::PermissionDenied,
        "reports names no tenant: the service's default, not granted",
    );
    // A CN that needs its token too: the certificate alone, or with a wrong token, is nobody.
    let mut ops = connect(&by_cn);
    assert_refused(
        ops.get_verification_result(get("")).await,
        Code::Unauthenticated,
        "ops without its token",
    );
    assert_refused(
        ops.get_verification_result(with_token(get(""), "wrong"))
            .await,
        Code::Unauthenticated,
        "ops with a wrong token",
    );
    ops.get_verification_result(with_token(get("v1"), TOKEN))
        .await
        .unwrap();
    // The ops token needs the ops certificate too: with onboarding's, it is nobody.
    assert_refused(
        client
            .get_verification_result(with_token(get(""), TOKEN))
            .await,
        Code::Unauthenticated,
        "the ops token with onboarding's certificate",
    );

    // A per-caller limit: onboarding may hold one Watch stream; a second is shed while
    // another caller still watches.
    let watch = |tenant: &str| pb::WatchVerificationResultRequest {
        product: pb::Product::Connect as i32,
        transaction_id: "sim-connect-pending".into(),
        tenant: tenant.into(),
        max_wait: Some(prost_types::Duration {
            seconds: 30,
            nanos: 0,
        }),
        ..Default::default()
    };
    let mut first = client
        .watch_verification_result(watch(""))
        .await
        .unwrap()
        .into_inner();
    let pending = first.message().await.unwrap().unwrap();
    assert_eq!(pending.decision(), pb::Decision::Pending);
    assert_refused(
        client.watch_verification_result(watch("")).await,
        Code::ResourceExhausted,
        "onboarding's second Watch",
    );
    let mut other = reports
        .watch_verification_result(watch("v1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        other.message().await.unwrap().unwrap().decision(),
        pb::Decision::Pending
    );
    // The slot comes back when the stream is gone.
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        match client.watch_verification_result(watch("")).await {
            Ok(stream) => {
                again = Some(stream);
                break;
            }
            Err(status) => {
                assert_eq!(reason(&status), "OVERLOADED");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(again.is_some(), "the Watch slot was released");
    let metrics = service.scrape_metrics().await;
    assert!(
        metrics.contains(r#"zoloz_verdict_shed_total{method="watch",caller="onboarding"}"#),
        "{metrics}"
    );
    assert!(!metrics.contains("spiffe://"), "no raw identity in metrics");
}

/// `serve` without callers refuses to start (exit 64, naming the way out); with
/// `allow_unauthenticated = true` it starts and warns.
#[test]
fn serve_without_callers_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::harness::free_port();
    let tenant = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nmetrics_listen = \"off\"\n\
         [tenants.default]\nclient_id = \"2089012345678900\"\nbase_url = \"http://127.0.0.1:9\"\n\
         merchant_private_key_file = {:?}\nzoloz_public_key_file = {:?}\n",
        crate::harness::vector_path("merchant_private.pk8.b64"),
        crate::harness::vector_path("zoloz_public.spki.b64"),
    );
    let closed = write(dir.path(), "closed.toml", &tenant);
    for args in [&["--check-config"][..], &[][..]] {
        let out = std::process::Command::new(crate::harness::binary())
            .args(["serve", "--config"])
            .arg(&closed)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("ZOLOZ_VERDICT_ALLOW_UNAUTHENTICATED")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(
            stderr.contains("callers") && stderr.contains("allow_unauthenticated = true"),
            "{stderr}"
        );
    }
    let open = write(
        dir.path(),
        "open.toml",
        &format!("allow_unauthenticated = true\n{tenant}"),
    );
    let mut child = std::process::Command::new(crate::harness::binary())
        .args(["serve", "--config"])
        .arg(&open)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut warned = false;
    let started = std::time::Instant::now();
    let mut line = String::new();
    while started.elapsed() < Duration::from_secs(30) {
        line.clear();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.contains("allow_unauthenticated = true") && line.contains("WARN") {
            warned = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned, "the start warns that anyone may call");
}
