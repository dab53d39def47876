//! TLS and mTLS on the gRPC port, with certificates made for the test (rcgen): a client that
//! trusts the CA gets verdicts; with a client CA configured, a client without a certificate (or
//! with one from another CA) is refused, and one with a certificate the CA signed is served.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use zoloz_verdict::config::TlsConfig;
use zoloz_verdict::domain::Product;
use zoloz_verdict::pb;
use zoloz_verdict::pb::verdict_service_client::VerdictServiceClient;

use crate::harness::{request, spawn_service};

pub(crate) struct Ca {
    pub(crate) issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
}

pub(crate) fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate for `names`, signed by `ca`: (cert PEM, key PEM).
pub(crate) fn leaf(ca: &Ca, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

async fn get(
    endpoint: Endpoint,
) -> Result<pb::VerificationResult, Box<dyn std::error::Error + Send + Sync>> {
    let channel = endpoint.connect().await?;
    let mut client = VerdictServiceClient::new(channel);
    Ok(client
        .get_verification_result(request(Product::Connect, "sim-connect-approve"))
        .await?
        .into_inner())
}

fn endpoint(addr: std::net::SocketAddr, tls: ClientTlsConfig) -> Endpoint {
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls.domain_name("localhost"))
        .unwrap()
}

#[tokio::test]
async fn tls_and_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = ca("zoloz-verdict test server CA");
    let client_ca = ca("zoloz-verdict test client CA");
    let other_ca = ca("somebody else");
    let (server_cert, server_key) = leaf(&server_ca, &["localhost"]);
    let (client_cert, client_key) = leaf(&client_ca, &["caller"]);
    let (stranger_cert, stranger_key) = leaf(&other_ca, &["stranger"]);
    let tls = TlsConfig {
        cert_file: write(dir.path(), "server.crt", &server_cert),
        key_file: write(dir.path(), "server.key", &server_key),
        client_ca_file: None,
    };
    let trusting = || ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&server_ca.pem));

    // TLS only.
    let plain_tls = tls.clone();
    let service = spawn_service(|_| {}, move |c| c.server.tls = Some(plain_tls)).await;
    let result = get(endpoint(service.addr, trusting())).await.unwrap();
    assert_eq!(result.decision(), pb::Decision::Approved);
    // A client that does not trust the server's CA is refused by its own verification.
    let untrusting = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&other_ca.pem));
    assert!(get(endpoint(service.addr, untrusting)).await.is_err());
    // Plaintext against the TLS port fails.
    let plaintext = Endpoint::from_shared(format!("http://{}", service.addr)).unwrap();
    assert!(get(plaintext).await.is_err());

    // mTLS: a client CA makes client certificates mandatory.
    let mtls = TlsConfig {
        client_ca_file: Some(write(dir.path(), "client-ca.crt", &client_ca.pem)),
        ..tls
    };
    let service = spawn_service(|_| {}, move |c| c.server.tls = Some(mtls)).await;
    let without_certificate = get(endpoint(service.addr, trusting())).await;
    assert!(
        without_certificate.is_err(),
        "a client without a certificate is refused"
    );
    let with_stranger = get(endpoint(
        service.addr,
        trusting().identity(Identity::from_pem(&stranger_cert, &stranger_key)),
    ))
    .await;
    assert!(
        with_stranger.is_err(),
        "a certificate from another CA is refused"
    );
    let with_certificate = get(endpoint(
        service.addr,
        trusting().identity(Identity::from_pem(&client_cert, &client_key)),
    ))
    .await
    .unwrap();
    assert_eq!(with_certificate.decision(), pb::Decision::Approved);

    // The health command (the Helm probes and test use it) speaks TLS and mTLS too.
    // The server runs on this test's runtime: the command must not block it.
    let port = service.addr.port();
    let ca_file = dir.path().join("server-ca.crt");
    let health = |extra: Vec<std::ffi::OsString>| {
        let ca_file = ca_file.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(crate::harness::binary())
                .arg("health")
                .arg("--addr")
                .arg(format!("https://127.0.0.1:{port}"))
                .arg("--ca-file")
                .arg(ca_file)
                .args(["--tls-server-name", "localhost", "--timeout", "10s"])
                .args(extra)
                .output()
                .unwrap()
        })
    };
    write(dir.path(), "server-ca.crt", &server_ca.pem);
    let client_cert_file = write(dir.path(), "client.crt", &client_cert);
    let client_key_file = write(dir.path(), "client.key", &client_key);
    let refused = health(Vec::new()).await.unwrap();
    assert!(!refused.status.success(), "no client certificate: refused");
    let served = health(vec![
        "--cert-file".into(),
        client_cert_file.into_os_string(),
        "--key-file".into(),
        client_key_file.into_os_string(),
    ])
    .await
    .unwrap();
    assert!(
        served.status.success(),
        "{}",
        String::from_utf8_lossy(&served.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&served.stdout).trim(), "SERVING");
}

/// `serve` with TLS files it cannot use stops at load with exit 64 naming the file, and
/// `serve --check-config` refuses whatever `serve` refuses before it binds (the TLS files, the
/// log filter, the audit file) instead of printing the configuration and exiting 0.
#[test]
fn unusable_tls_log_and_audit_settings_stop_serve_and_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let ca_one = ca("one");
    let (cert, key) = leaf(&ca_one, &["localhost"]);
    let (_, other_key) = leaf(&ca_one, &["localhost"]);
    let cert = write(dir.path(), "cert.pem", &cert);
    let key = write(dir.path(), "key.pem", &key);
    let other_key = write(dir.path(), "other-key.pem", &other_key);
    let garbage = write(dir.path(), "garbage.pem", "not a certificate\n");
    let tenant = format!(
        "[tenants.default]\nclient_id = \"2089012345678900\"\nbase_url = \"http://127.0.0.1:9\"\n\
         merchant_private_key_file = {:?}\nzoloz_public_key_file = {:?}\n",
        crate::harness::vector_path("merchant_private.pk8.b64"),
        crate::harness::vector_path("zoloz_public.spki.b64"),
    );
    let port = crate::harness::free_port();
    let config = |extra: &str| {
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "allow_unauthenticated = true\n[server]\nlisten = \"127.0.0.1:{port}\"\n\
                 metrics_listen = \"off\"\n{extra}\n{tenant}"
            ),
        )
        .unwrap();
        path
    };
    let run = |args: &[&str], config: &Path| {
        let out = std::process::Command::new(crate::harness::binary())
            .args(["serve", "--config"])
            .arg(config)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let tls = |cert: &Path, key: &Path, ca: Option<&Path>| {
        let ca = ca.map_or(String::new(), |p| format!("client_ca_file = {p:?}\n"));
        format!("[server.tls]\ncert_file = {cert:?}\nkey_file = {key:?}\n{ca}")
    };
    let good = config(&tls(&cert, &key, None));
    assert_eq!(run(&["--check-config"], &good).0, Some(0));
    for (extra, needle) in [
        (tls(&garbage, &key, None), "server.tls.cert_file"),
        (tls(&cert, &other_key, None), "other-key.pem"),
        (
            tls(&cert, &key, Some(&garbage)),
            "server.tls.client_ca_file",
        ),
    ] {
        let config = config(&extra);
        for args in [&["--check-config"][..], &[][..]] {
            let (code, stderr) = run(args, &config);
            assert_eq!(code, Some(64), "{args:?} {extra}: {stderr}");
            assert!(stderr.contains(needle), "{args:?} {extra}: {stderr}");
        }
    }
    for (extra, needle) in [
        ("[telemetry]\nlog_level = \"[[[\"\n", "log filter"),
        (
            "[audit]\nenabled = true\nfile = \"/nonexistent-dir/audit.jsonl\"\n",
            "audit.file /nonexistent-dir/audit.jsonl",
        ),
    ] {
        let (code, stderr) = run(&["--check-config"], &config(extra));
        assert_eq!(code, Some(64), "{extra}: {stderr}");
        assert!(stderr.contains(needle), "{extra}: {stderr}");
    }
}
