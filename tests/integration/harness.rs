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
