//! Recorded responses (`--scenarios DIR`): one file per transaction id, `DIR/<id>.json`, whose
//! bytes are served verbatim (signed, and encrypted when the request was). Loaded once at
//! start, so a bad directory stops the simulator before it listens rather than at the first
//! request, and no request touches the file system.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use bytes::Bytes;

use super::SimulatorError;

/// Recorded response bodies by transaction id.
pub(crate) type Recorded = HashMap<String, Bytes>;

/// Reads every `*.json` file of `dir`. Refuses a missing directory and any (non-hidden)
/// regular file that is not UTF-8; other files are checked but not served, subdirectories and
/// hidden files are ignored.
pub(crate) fn load(dir: &Path) -> Result<Recorded, SimulatorError> {
    let dir_error = |reason: String| SimulatorError::ScenariosDir {
        path: dir.display().to_string(),
        reason,
    };
    let entries = fs::read_dir(dir).map_err(|e| {
        dir_error(match e.kind() {
            std::io::ErrorKind::NotFound => "does not exist".to_string(),
            _ => e.to_string(),
        })
    })?;
    let mut recorded = Recorded::new();
    for entry in entries {
        let path = entry.map_err(|e| dir_error(e.to_string()))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden || !path.is_file() {
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| dir_error(format!("{}: {e}", path.display())))?;
        if std::str::from_utf8(&bytes).is_err() {
            return Err(SimulatorError::NotUtf8 {
                path: path.display().to_string(),
            });
        }
        let is_json = path.extension().is_some_and(|e| e == "json");
        if let (true, Some(id)) = (is_json, path.file_stem().and_then(|s| s.to_str())) {
            recorded.insert(id.to_string(), Bytes::from(bytes));
        }
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_json_files_by_transaction_id() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("T-1.json"), "{\"result\":{}}").unwrap();
        fs::write(dir.path().join("notes.txt"), "not served").unwrap();
        fs::write(dir.path().join(".DS_Store"), [0xff, 0xfe]).unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let recorded = load(dir.path()).unwrap();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded["T-1"], Bytes::from_static(b"{\"result\":{}}"));
    }

    #[test]
    fn refuses_a_missing_directory_and_binary_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(missing.ends_with("does not exist"), "{missing}");
        fs::write(dir.path().join("T-2.json"), [0x7b, 0xff, 0x7d]).unwrap();
        let binary = load(dir.path()).unwrap_err().to_string();
        assert!(binary.contains("T-2.json"), "{binary}");
        assert!(binary.contains("not valid UTF-8"), "{binary}");
    }
}
