//! docs/semantics.md, promise 21: no `unsafe` in the runtime unless it is
//! documented with its invariant. Checked on the sources: every `unsafe`
//! block, fn, impl or trait in `runtime/src` must follow a `// SAFETY:`
//! comment (an `unsafe fn`, a `# Safety` section in its doc comment), and
//! while there is none the crate must say so with `#![forbid(unsafe_code)]`.

use std::fs;
use std::path::{Path, PathBuf};

fn runtime_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    assert!(
        files.len() > 5,
        "found the runtime's sources in {}",
        src.display()
    );
    files
}

/// The code part of a line: without its `//` comment (good enough for this
/// crate, whose string literals contain no `//` before an `unsafe`).
fn code_of(line: &str) -> &str {
    line.split("//").next().unwrap_or_default()
}

fn uses_unsafe(code: &str) -> bool {
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '{'))
        .filter(|word| !word.is_empty())
        .collect();
    words.windows(2).any(|pair| {
        pair[0] == "unsafe" && ["{", "fn", "impl", "trait", "extern"].contains(&pair[1])
    }) || code.contains("unsafe{")
        || code.trim_end().ends_with("unsafe")
}

/// Whether the doc comment right above an `unsafe fn` (its last lines are
/// `above`'s) has a `# Safety` section stating the caller's contract.
fn has_safety_section(above: &[&str]) -> bool {
    above
        .iter()
        .rev()
        .map(|line| line.trim_start())
        .take_while(|line| line.starts_with("///") || line.starts_with("#["))
        .any(|line| line.trim_end() == "/// # Safety")
}

#[test]
fn runtime_has_no_unsafe_code_without_a_safety_comment() {
    let mut undocumented = Vec::new();
    let mut any_unsafe = false;
    for file in runtime_sources() {
        let text = fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if !uses_unsafe(code_of(line)) {
                continue;
            }
            any_unsafe = true;
            let documented = if code_of(line).contains("unsafe fn") {
                has_safety_section(&lines[..n])
            } else {
                lines[n.saturating_sub(4)..n]
                    .iter()
                    .any(|above| above.contains("SAFETY:"))
            };
            if !documented {
                undocumented.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "unsafe without a `// SAFETY:` comment:\n{}",
        undocumented.join("\n")
    );
    if !any_unsafe {
        let lib =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/src/lib.rs"))
                .unwrap();
        assert!(
            lib.contains("#![forbid(unsafe_code)]"),
            "the runtime has no unsafe code; keep it that way with #![forbid(unsafe_code)]"
        );
    }
}

#[test]
fn the_unsafe_detector_finds_unsafe_code() {
    assert!(uses_unsafe("    let x = unsafe { ptr.read() };"));
    assert!(uses_unsafe("unsafe fn raw() {}"));
    assert!(uses_unsafe("unsafe impl Send for Frame {}"));
    assert!(uses_unsafe("let x = unsafe{ y };"));
    assert!(!uses_unsafe("#![forbid(unsafe_code)]"));
    assert!(!uses_unsafe(code_of("let a = 1; // not unsafe { here }")));
}

#[test]
fn an_unsafe_fn_needs_a_safety_section_in_its_own_doc_comment() {
    let documented = [
        "/// Reads.",
        "///",
        "/// # Safety",
        "///",
        "/// No writer.",
        "#[inline]",
    ];
    assert!(has_safety_section(&documented));
    let elsewhere = ["/// # Safety", "fn other() {}", "/// Reads.", "#[inline]"];
    assert!(!has_safety_section(&elsewhere));
}
