//! `zoloz-verdict sign` and `verify`, the real binary: what each exit code means. `verify`
//! exits 1 only for a signature that does not verify; a key it cannot use is 66, as for
//! `sign`; `sign` refuses (exit 2) values ZOLOZ would refuse.

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

fn sign(client_id: &str, path: &str, time: &str) -> Output {
    Command::new(binary())
        .arg("sign")
        .arg("--private-key")
        .arg(vector_path("merchant_private.pk8.b64"))
        .args(["--client-id", client_id, "--path", path])
        .args(["--request-time", time])
        .output()
        .unwrap()
}

#[test]
fn sign_refuses_values_zoloz_refuses() {
    let client_id = "2089012345678900";
    let path = "/api/v1/zoloz/authentication/test";
    let time = "2020-01-01T08:00:00+0800";
    assert_eq!(sign(client_id, path, time).status.code(), Some(0));
    for (client_id, path, time, needle) in [
        ("", path, time, "client id must be"),
        ("2089.0", path, time, "client id must be"),
        (client_id, "", time, "start with /api/"),
        (
            client_id,
            "zoloz/authentication/test",
            time,
            "start with /api/",
        ),
        (
            client_id,
            "https://sg-production-api.zoloz.com/api/v1/zoloz/authentication/test",
            time,
            "without the scheme and host",
        ),
        (
            client_id,
            "/api/v1/zoloz/authentication/test?x=1",
            time,
            "query",
        ),
        (
            client_id,
            "//api/v1/zoloz/authentication/test",
            time,
            "must not contain '//'",
        ),
        (
            client_id,
            "/api/v1/zoloz/authentication test",
            time,
            "spaces",
        ),
        (client_id, path, "", "--request-time"),
        (client_id, path, "2020-01-01 08:00:00", "--request-time"),
        (
            client_id,
            path,
            "2020-01-01T08:00:00+08:00",
            "only yyyy-MM-ddTHH:mm:ss±HHMM",
        ),
        (
            client_id,
            path,
            "2020-01-01T00:00:00Z",
            "did you mean 2020-01-01T00:00:00+0000",
        ),
    ] {
        let output = sign(client_id, path, time);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{client_id:?} {path:?} {time:?}: {stderr}"
        );
        assert!(stderr.contains(needle), "{needle}: {stderr}");
        assert!(output.stdout.is_empty(), "nothing signed");
    }
}
