//! Known-answer tests TV-1…TV-5 (docs/protocol.md), stage by stage: content to sign,
//! its SHA-256, the signature bytes, the header value; and the negative cases.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zoloz_verdict::zoloz::keys::{PrivateKey, PublicKey};
use zoloz_verdict::zoloz::{aksk, envelope, signing};

use crate::harness::{vector_path, vector_str};

fn key_text(name: &str) -> Vec<u8> {
    std::fs::read(vector_path(name)).unwrap()
}

fn merchant_private() -> PrivateKey {
    PrivateKey::parse(&key_text("merchant_private.pk8.b64")).unwrap()
}

fn merchant_public() -> PublicKey {
    PublicKey::parse(&key_text("merchant_public.spki.b64")).unwrap()
}

fn zoloz_private() -> PrivateKey {
    PrivateKey::parse(&key_text("zoloz_private.pk8.b64")).unwrap()
}

fn zoloz_public() -> PublicKey {
    PublicKey::parse(&key_text("zoloz_public.spki.b64")).unwrap()
}

struct Common {
    client_id: String,
    path: String,
    request_time: String,
    response_time: String,
    request_body: String,
    response_body: String,
}

fn common() -> Common {
    Common {
        client_id: vector_str("/common/client_id"),
        path: vector_str("/common/path"),
        request_time: vector_str("/common/request_time"),
        response_time: vector_str("/common/response_time"),
        request_body: vector_str("/common/request_body"),
        response_body: vector_str("/common/response_body"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

#[test]
fn tv1_plain_request_signature_stage_by_stage() {
    let c = common();
    assert_eq!(c.request_body.len(), 57);
    let content = signing::content_to_sign(
        &c.path,
        &c.client_id,
        &c.request_time,
        c.request_body.as_bytes(),
    );
    assert_eq!(content, vector_str("/TV-1/content_to_sign").as_bytes());
    assert_eq!(sha256_hex(&content), vector_str("/TV-1/content_sha256"));
    let signature = merchant_private().sign_sha256(&content);
    assert_eq!(
        STANDARD.encode(&signature),
        vector_str("/TV-1/signature_base64")
    );
    assert_eq!(
        signing::signature_header(&signature),
        vector_str("/TV-1/signature_header")
    );
    // The one-call form agrees with the stages.
    assert_eq!(
        signing::sign(
            &merchant_private(),
            &c.path,
            &c.client_id,
            &c.request_time,
            c.request_body.as_bytes()
        ),
        vector_str("/TV-1/signature_header")
    );
    // PKCS#1 v1.5 is deterministic: a second signature is the same bytes.
    assert_eq!(merchant_private().sign_sha256(&content), signature);
    // The merchant public key verifies it.
    let parsed = signing::parse_signature_header(&vector_str("/TV-1/signature_header")).unwrap();
    signing::verify(
        &merchant_public(),
        &c.path,
        &c.client_id,
        &c.request_time,
        c.request_body.as_bytes(),
        &parsed,
    )
    .unwrap();
}

#[test]
fn tv2_encrypted_request_ciphertext_signature_and_wrapping() {
    let c = common();
    let key = hex::decode(vector_str("/TV-2/aes_key_hex")).unwrap();
    let body = envelope::aes_ecb_encrypt(&key, c.request_body.as_bytes()).unwrap();
    assert_eq!(body, vector_str("/TV-2/body_base64"));
    // AES-128 (keys before 2022): the first 16 bytes of the same key.
    assert_eq!(
        envelope::aes_ecb_encrypt(&key[..16], c.request_body.as_bytes()).unwrap(),
        vector_str("/TV-2/body_base64_aes128")
    );
    // The signature covers the Base64 ciphertext text.
    let content = signing::content_to_sign(&c.path, &c.client_id, &c.request_time, body.as_bytes());
    assert_eq!(sha256_hex(&content), vector_str("/TV-2/content_sha256"));
    assert_eq!(
        signing::sign(
            &merchant_private(),
            &c.path,
            &c.client_id,
            &c.request_time,
            body.as_bytes()
        ),
        vector_str("/TV-2/signature_header")
    );
    assert_eq!(
        STANDARD.encode(merchant_private().sign_sha256(&content)),
        vector_str("/TV-2/signature_base64")
    );
    // The wrapping is randomized: unwrap with Z's private key to check it.
    let sealed = envelope::seal_with_key(&zoloz_public(), &key, c.request_body.as_bytes()).unwrap();
    assert_eq!(sealed.body, vector_str("/TV-2/body_base64"));
    assert!(
        sealed
            .encrypt_header
            .starts_with("algorithm=RSA_AES, symmetricKey=")
    );
    let parsed = signing::parse_encrypt_header(&sealed.encrypt_header).unwrap();
    assert_eq!(
        zoloz_private()
            .unwrap_pkcs1(&parsed.wrapped_key)
            .unwrap()
            .as_slice(),
        key.as_slice()
    );
    // And the whole envelope opens on the other side.
    assert_eq!(
        envelope::open(
            &zoloz_private(),
            &sealed.encrypt_header,
            sealed.body.as_bytes()
        )
        .unwrap(),
        c.request_body.as_bytes()
    );
    // A fresh random key is 256-bit and differs each time.
    let a = envelope::seal(&zoloz_public(), b"{}").unwrap();
    let b = envelope::seal(&zoloz_public(), b"{}").unwrap();
    assert_ne!(a.body, b.body);
    let wrapped = signing::parse_encrypt_header(&a.encrypt_header)
        .unwrap()
        .wrapped_key;
    assert_eq!(zoloz_private().unwrap_pkcs1(&wrapped).unwrap().len(), 32);
}

#[test]
fn tv3_plain_response_verification_and_negative_cases() {
    let c = common();
    let header = vector_str("/TV-3/signature_header");
    let content = signing::content_to_sign(
        &c.path,
        &c.client_id,
        &c.response_time,
        c.response_body.as_bytes(),
    );
    assert_eq!(content, vector_str("/TV-3/content_to_verify").as_bytes());
    assert_eq!(sha256_hex(&content), vector_str("/TV-3/content_sha256"));
    let parsed = signing::parse_signature_header(&header).unwrap();
    let z = zoloz_public();
    signing::verify(
        &z,
        &c.path,
        &c.client_id,
        &c.response_time,
        c.response_body.as_bytes(),
        &parsed,
    )
    .unwrap();

    // One byte of the body changed.
    let mut body = c.response_body.clone().into_bytes();
    body[10] ^= 1;
    assert_eq!(
        signing::verify(&z, &c.path, &c.client_id, &c.response_time, &body, &parsed),
        Err(signing::VerifyError::Mismatch)
    );
    // Response time changed.
    assert!(
        signing::verify(
            &z,
            &c.path,
            &c.client_id,
            "2020-01-01T08:00:02+0800",
            c.response_body.as_bytes(),
            &parsed
        )
        .is_err()
    );
    // Client id changed.
    assert!(
        signing::verify(
            &z,
            &c.path,
            "2089012345678901",
            &c.response_time,
            c.response_body.as_bytes(),
            &parsed
        )
        .is_err()
    );
    // Path changed.
    assert!(
        signing::verify(
            &z,
            "/api/v1/zoloz/authentication/tesT",
            &c.client_id,
            &c.response_time,
            c.response_body.as_bytes(),
            &parsed
        )
        .is_err()
    );
    // The wrong key.
    assert!(
        signing::verify(
            &merchant_public(),
            &c.path,
            &c.client_id,
            &c.response_time,
            c.response_body.as_bytes(),
            &parsed
        )
        .is_err()
    );
    // A raw `+` in place of `%2B` is handled (not turned into a space): TV-3's signature has
    // no `+`, TV-1's (a request, verified with the merchant key) has several.
    let tv1 = vector_str("/TV-1/signature_header");
    let raw_plus = tv1.replace("%2B", "+");
    assert_ne!(raw_plus, tv1);
    let parsed_plus = signing::parse_signature_header(&raw_plus).unwrap();
    assert_eq!(
        parsed_plus.signature,
        signing::parse_signature_header(&tv1).unwrap().signature
    );
    signing::verify(
        &merchant_public(),
        &c.path,
        &c.client_id,
        &c.request_time,
        c.request_body.as_bytes(),
        &parsed_plus,
    )
    .unwrap();
    // Lower-case percent escapes are the same value.
    let lower = header.replace("%2F", "%2f").replace("%3D", "%3d");
    assert_eq!(
        signing::parse_signature_header(&lower).unwrap().signature,
        parsed.signature
    );
    // An unknown algorithm is refused even with a valid signature.
    let other = signing::SignatureHeader {
        algorithm: "RSA512".into(),
        ..parsed.clone()
    };
    assert!(matches!(
        signing::verify(
            &z,
            &c.path,
            &c.client_id,
            &c.response_time,
            c.response_body.as_bytes(),
            &other
        ),
        Err(signing::VerifyError::Header(_))
    ));
    // A truncated signature fails.
    let short = signing::SignatureHeader {
        signature: parsed.signature[..255].to_vec(),
        ..parsed
    };
    assert!(
        signing::verify(
            &z,
            &c.path,
            &c.client_id,
            &c.response_time,
            c.response_body.as_bytes(),
            &short
        )
        .is_err()
    );
}

#[test]
fn tv4_encrypted_response_end_to_end() {
    let c = common();
    let body = vector_str("/TV-4/body_base64");
    let parsed = signing::parse_signature_header(&vector_str("/TV-4/signature_header")).unwrap();
    // Verified over the ciphertext, before decrypting.
    signing::verify(
        &zoloz_public(),
        &c.path,
        &c.client_id,
        &c.response_time,
        body.as_bytes(),
        &parsed,
    )
    .unwrap();
    let encrypt = vector_str("/TV-4/encrypt_header");
    let wrapped = signing::parse_encrypt_header(&encrypt).unwrap().wrapped_key;
    assert_eq!(
        hex::encode(
            merchant_private()
                .unwrap_pkcs1(&wrapped)
                .unwrap()
                .as_slice()
        ),
        vector_str("/TV-4/aes_key_hex")
    );
    let plaintext = envelope::open(&merchant_private(), &encrypt, body.as_bytes()).unwrap();
    assert_eq!(plaintext, vector_str("/TV-4/plaintext").as_bytes());
    assert_eq!(plaintext, c.response_body.as_bytes());
    // The wrong private key cannot unwrap it.
    assert_eq!(
        envelope::open(&zoloz_private(), &encrypt, body.as_bytes()).unwrap_err(),
        envelope::EnvelopeError::Unwrap
    );
    // A body cut short no longer decrypts.
    assert!(
        envelope::open(
            &merchant_private(),
            &encrypt,
            &body.as_bytes()[..body.len() - 4]
        )
        .is_err()
    );
}

#[test]
fn tv5_aksk_hmac() {
    let c = common();
    let key = aksk::SecretKey::parse(&vector_str("/TV-5/secret_key_base64url")).unwrap();
    let expected = vector_str("/TV-5/signature");
    assert_eq!(
        aksk::sign(
            &key,
            &c.path,
            &c.client_id,
            &c.request_time,
            c.request_body.as_bytes()
        ),
        expected
    );
    // The secret is the key bytes 0x00..0x1f.
    let raw = aksk::SecretKey::from_bytes(&(0u8..32).collect::<Vec<_>>());
    assert_eq!(
        aksk::sign(
            &raw,
            &c.path,
            &c.client_id,
            &c.request_time,
            c.request_body.as_bytes()
        ),
        expected
    );
    assert!(aksk::verify(
        &key,
        &c.path,
        &c.client_id,
        &c.request_time,
        c.request_body.as_bytes(),
        &expected
    ));
    // Padding on the received value is tolerated.
    assert!(aksk::verify(
        &key,
        &c.path,
        &c.client_id,
        &c.request_time,
        c.request_body.as_bytes(),
        &format!("{expected}=")
    ));
    // Every field is covered.
    let mut tampered = expected.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    assert!(!aksk::verify(
        &key,
        &c.path,
        &c.client_id,
        &c.request_time,
        c.request_body.as_bytes(),
        std::str::from_utf8(&tampered).unwrap()
    ));
    assert!(!aksk::verify(
        &key,
        &c.path,
        &c.client_id,
        "2020-01-01T08:00:01+0800",
        c.request_body.as_bytes(),
        &expected
    ));
    assert!(!aksk::verify(
        &key,
        &c.path,
        "x",
        &c.request_time,
        c.request_body.as_bytes(),
        &expected
    ));
    assert!(!aksk::verify(
        &key,
        "/x",
        &c.client_id,
        &c.request_time,
        c.request_body.as_bytes(),
        &expected
    ));
    assert!(!aksk::verify(
        &key,
        &c.path,
        &c.client_id,
        &c.request_time,
        b"{}",
        &expected
    ));
}

#[test]
fn every_key_format_parses_to_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let pk8 = vector_path("merchant_private.pk8.b64");
    let pem8 = dir.path().join("pk8.pem");
    let pem1 = dir.path().join("pk1.pem");
    let der = dir.path().join("pk8.der");
    let pub_pem = dir.path().join("pub.pem");
    let pub_rsa = dir.path().join("pub_rsa.pem");
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let b64 = std::fs::read_to_string(&pk8).unwrap();
    std::fs::write(&der, STANDARD.decode(b64.trim()).unwrap()).unwrap();
    openssl(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        der.to_str().unwrap(),
        "-out",
        pem8.to_str().unwrap(),
    ]);
    openssl(&[
        "rsa",
        "-inform",
        "DER",
        "-in",
        der.to_str().unwrap(),
        "-traditional",
        "-out",
        pem1.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-inform",
        "DER",
        "-in",
        der.to_str().unwrap(),
        "-pubout",
        "-out",
        pub_pem.to_str().unwrap(),
    ]);
    openssl(&[
        "rsa",
        "-inform",
        "DER",
        "-in",
        der.to_str().unwrap(),
        "-RSAPublicKey_out",
        "-out",
        pub_rsa.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_to_string(&pem1)
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    assert!(
        std::fs::read_to_string(&pub_rsa)
            .unwrap()
            .contains("BEGIN RSA PUBLIC KEY")
    );

    let reference = merchant_private().sign_sha256(b"content");
    for path in [&pk8, &pem8, &pem1, &der] {
        let key = PrivateKey::from_file(path).unwrap();
        assert_eq!(key.sign_sha256(b"content"), reference, "{}", path.display());
    }
    for path in [&vector_path("merchant_public.spki.b64"), &pub_pem, &pub_rsa] {
        let key = PublicKey::from_file(path).unwrap();
        assert!(
            key.verify_sha256(b"content", &reference),
            "{}",
            path.display()
        );
        assert_eq!(key.spki_der(), merchant_public().spki_der());
    }
}
