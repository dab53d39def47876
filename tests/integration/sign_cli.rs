//! `zoloz-verdict sign` and `verify`, the real binary: what each exit code means. `verify`
//! exits 1 only for a signature that does not verify; a key it cannot use is 66, as for
//! `sign`.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::{binary, vector_path, vector_str};

fn verify(key_flag: &str, key: &Path, body: &Path) -> Output {
    Command::new(binary())
        .args(["verify", key_flag])
        .arg(key)
        .args(["--client-id", &vector_str("/common/client_id")])
        .args(["--response-time", &vector_str("/common/response_time")])
        .args(["--path", &vector_str("/common/path")])
        .args(["--signature", &vector_str("/TV-3/signature_header")])
        .arg("--body-file")
        .arg(body)
        .output()
        .unwrap()
}

#[test]
fn verify_with_an_unusable_key_exits_66_not_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("response.json");
    std::fs::write(&body, vector_str("/common/response_body")).unwrap();
    let missing = dir.path().join("missing.pem");
    // The good key verifies: the other runs differ only by the key.
    let good = verify("--public-key", &vector_path("zoloz_public.spki.b64"), &body);
    assert_eq!(good.status.code(), Some(0));
    for (flag, key, needle) in [
        ("--public-key", missing.as_path(), "missing.pem"),
        (
            "--public-key",
            &vector_path("zoloz_private.pk8.b64"),
            "expected a public key, found a private key",
        ),
        ("--secret-key", missing.as_path(), "missing.pem"),
        (
            "--secret-key",
            &vector_path("zoloz_private.pk8.b64"),
            "the secret key is not base64url",
        ),
    ] {
        let output = verify(flag, key, &body);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(66), "{flag} {key:?}: {stderr}");
        assert!(stderr.contains(needle), "{flag} {key:?}: {stderr}");
        assert!(!stderr.contains("invalid"), "{stderr}");
        assert!(output.stdout.is_empty(), "nothing printed as a verdict");
    }
}
