//! Shared test helpers: fixture paths, the known-answer vectors, key material.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/vectors/`.
pub fn vector_path(name: &str) -> PathBuf {
    root().join("tests/vectors").join(name)
}

/// `tests/vectors/vectors.json`, parsed.
pub fn vectors() -> Value {
    serde_json::from_slice(&std::fs::read(vector_path("vectors.json")).unwrap()).unwrap()
}

/// A string field of the vectors, by JSON pointer.
pub fn vector_str(pointer: &str) -> String {
    vectors()
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("vectors.json has no string at {pointer}"))
        .to_string()
}

/// The path of the built `zoloz-verdict` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zoloz-verdict"))
}

/// A file under `tests/fixtures/`.
pub fn fixture_path(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// The bytes of a fixture.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A fixture parsed as JSON.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The seed response samples (product, fixture), each approving under the default policy.
pub const APPROVING_FIXTURES: [(zoloz_verdict::domain::Product, &str); 6] = {
    use zoloz_verdict::domain::Product::*;
    [
        (FaceCapture, "seeds/facecapture-v1.response.json"),
        (FaceCapture, "seeds/facecapture-v1a.response.json"),
        (FaceCompare, "seeds/facecompare.response.json"),
        (Connect, "seeds/connect.response.json"),
        (Connect, "connect-older-api.json"),
        (IdRecognition, "idrecognition-approved.json"),
    ]
};
