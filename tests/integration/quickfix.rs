//! A real FIX engine for the interop tests: QuickFIX's C++ library
//! (Debian's `libquickfix-dev`) and its own FIX 4.4 data dictionary
//! (`FIX44.xml`, from the `spec/` folder of the quickfix source package),
//! which QuickFIX validates every message against. `.ci/run` installs the
//! library and g++ and fetches the dictionary
//! (`tests/interop/fetch-fix44-xml.sh`); a test that needs them fails,
//! saying how to get them, rather than being skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The interop programs' sources.
fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// QuickFIX's FIX44.xml: `QUICKFIX_FIX44_XML`, else where
/// `tests/interop/fetch-fix44-xml.sh` puts it (`target/quickfix/`).
pub fn fix44_dictionary() -> PathBuf {
    let path = std::env::var_os("QUICKFIX_FIX44_XML")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/quickfix/FIX44.xml"));
    assert!(
        path.exists(),
        "QuickFIX's FIX44.xml is not at {}: run tests/interop/fetch-fix44-xml.sh (or set QUICKFIX_FIX44_XML)",
        path.display()
    );
    path
}

/// `tests/interop/NAME.cpp` built against QuickFIX, once per test run.
pub fn program(name: &'static str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<Vec<(&'static str, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, path)) = built.iter().find(|(built, _)| *built == name) {
        return path.clone();
    }
    assert!(
        Path::new("/usr/include/quickfix/Session.h").exists(),
        "the QuickFIX interop tests need QuickFIX's C++ library: apt-get install libquickfix-dev g++ (.ci/run does)"
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let source = interop_dir().join(format!("{name}.cpp"));
    // QuickFIX 1.15's headers use dynamic exception specifications, which
    // C++17 removed: C++14.
    let compiled = Command::new("g++")
        .args(["-std=c++14", "-O0", "-Wno-deprecated", "-o"])
        .arg(&out)
        .arg(&source)
        .args(["-lquickfix", "-lpthread"])
        .output()
        .unwrap_or_else(|error| panic!("cannot run g++ ({error}): apt-get install g++"));
    assert!(
        compiled.status.success(),
        "{} does not build: {}",
        source.display(),
        String::from_utf8_lossy(&compiled.stderr)
    );
    built.push((name, out.clone()));
    out
}
