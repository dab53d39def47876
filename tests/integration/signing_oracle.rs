//! Second implementations as oracles: the `rsa` crate (RustCrypto) must produce the same
//! PKCS#1 v1.5 signatures as aws-lc-rs for random bodies, and verify ours; OpenSSL's command
//! line must agree with `zoloz-verdict sign` for every key format, non-ASCII text included.

use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use zoloz_verdict::zoloz::keys::PrivateKey;
use zoloz_verdict::zoloz::signing;

use crate::harness::{binary, vector_path};

fn pk8_der() -> &'static [u8] {
    static DER: OnceLock<Vec<u8>> = OnceLock::new();
    DER.get_or_init(|| {
        let b64 = std::fs::read_to_string(vector_path("merchant_private.pk8.b64")).unwrap();
        STANDARD.decode(b64.trim()).unwrap()
    })
}

fn ours() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::parse(pk8_der()).unwrap())
}

fn theirs() -> &'static SigningKey<rsa::sha2::Sha256> {
    static KEY: OnceLock<SigningKey<rsa::sha2::Sha256>> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::<rsa::sha2::Sha256>::new(rsa::RsaPrivateKey::from_pkcs8_der(pk8_der()).unwrap())
    })
}

proptest! {
    // RSA signing in the rsa crate is ~8x slower than aws-lc-rs: keep the case count modest.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn aws_lc_signatures_equal_rustcrypto_signatures(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        client_id in "[0-9A-Za-z]{1,20}",
        path in "/api/v1a?/zoloz/[a-z]{1,12}/[a-z]{1,12}",
    ) {
        let content = signing::content_to_sign(&path, &client_id, "2020-01-01T08:00:00+0800", &body);
        let a = ours().sign_sha256(&content);
        let b = theirs().sign(&content).to_bytes();
        prop_assert_eq!(&a[..], &b[..]);
        // Each verifies the other's output.
        let verifying = VerifyingKey::<rsa::sha2::Sha256>::new(theirs().as_ref().to_public_key());
        prop_assert!(verifying.verify(&content, &Signature::try_from(a.as_slice()).unwrap()).is_ok());
        prop_assert!(ours().public_key().verify_sha256(&content, &b));
    }
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn sign_command_agrees_with_openssl_for_every_key_format() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // A key of our own, not the vectors' key.
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        &p("k8.pem"),
    ]);
    openssl(&[
        "rsa",
        "-in",
        &p("k8.pem"),
        "-traditional",
        "-out",
        &p("k1.pem"),
    ]);
    let der = openssl(&["pkey", "-in", &p("k8.pem"), "-outform", "DER"]);
    std::fs::write(p("k.b64"), STANDARD.encode(&der)).unwrap();
    assert!(
        std::fs::read_to_string(p("k1.pem"))
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );

    // Non-ASCII text in the body: the signature is over its UTF-8 bytes.
    let body = r#"{"bizId":"注文-42","transactionId":"G0066","note":"Ünïcödé ✓ 日本語"}"#;
    std::fs::write(p("body.json"), body).unwrap();
    let path = "/api/v1/zoloz/connect/checkresult";
    let client_id = "2089012345678900";
    let time = "2026-11-22T08:00:00+0800";
    let content = signing::content_to_sign(path, client_id, time, body.as_bytes());
    std::fs::write(p("content.bin"), &content).unwrap();
    let expected = openssl(&["dgst", "-sha256", "-sign", &p("k8.pem"), &p("content.bin")]);

    for key in ["k8.pem", "k1.pem", "k.b64"] {
        let out = Command::new(binary())
            .args(["sign", "--private-key", &p(key), "--client-id", client_id])
            .args([
                "--request-time",
                time,
                "--path",
                path,
                "--body-file",
                &p("body.json"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let (printed_content, header) = stdout.trim_end_matches('\n').rsplit_once('\n').unwrap();
        assert_eq!(
            printed_content.as_bytes(),
            content.as_slice(),
            "{key}: content to sign"
        );
        let parsed = signing::parse_signature_header(header).unwrap();
        assert_eq!(
            parsed.signature, expected,
            "{key}: signature differs from openssl's"
        );
        assert_eq!(header, signing::signature_header(&expected));
    }
}

#[test]
fn verify_command_accepts_valid_and_explains_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let c = |p: &str| crate::harness::vector_str(p);
    let body = dir.path().join("response.json");
    std::fs::write(&body, c("/common/response_body")).unwrap();
    let run = |body: &std::path::Path, time: &str, signature: &str| {
        Command::new(binary())
            .args(["verify", "--public-key"])
            .arg(vector_path("zoloz_public.spki.b64"))
            .args([
                "--client-id",
                &c("/common/client_id"),
                "--response-time",
                time,
            ])
            .args([
                "--path",
                &c("/common/path"),
                "--signature",
                signature,
                "--body-file",
            ])
            .arg(body)
            .output()
            .unwrap()
    };
    let header = c("/TV-3/signature_header");
    let ok = run(&body, &c("/common/response_time"), &header);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // The bare value works too.
    let bare = header.split_once("signature=").unwrap().1;
    assert!(
        run(&body, &c("/common/response_time"), bare)
            .status
            .success()
    );

    // A body saved with `echo` (trailing newline): invalid, with a hint that says so.
    let with_newline = dir.path().join("echoed.json");
    std::fs::write(&with_newline, format!("{}\n", c("/common/response_body"))).unwrap();
    let bad = run(&with_newline, &c("/common/response_time"), &header);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("trailing newline"), "{stderr}");

    // A changed time: invalid.
    let bad = run(&body, "2020-01-01T08:00:02+0800", &header);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does not match"));

    // An unreadable body file: a distinct exit code.
    let missing = run(
        &dir.path().join("nope.json"),
        &c("/common/response_time"),
        &header,
    );
    assert_eq!(missing.status.code(), Some(66));
}

#[test]
fn sign_and_verify_in_aksk_mode() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("sk.txt");
    std::fs::write(
        &secret,
        crate::harness::vector_str("/TV-5/secret_key_base64url"),
    )
    .unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, crate::harness::vector_str("/common/request_body")).unwrap();
    let out = Command::new(binary())
        .args(["sign", "--secret-key"])
        .arg(&secret)
        .args([
            "--client-id",
            "2089012345678900",
            "--request-time",
            "2020-01-01T08:00:00+0800",
        ])
        .args(["--path", "/api/v1/zoloz/authentication/test", "--body-file"])
        .arg(&body)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim_end().lines().last().unwrap(),
        crate::harness::vector_str("/TV-5/signature")
    );
}
