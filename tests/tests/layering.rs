//! The runtime's core is layered one way: each module uses only the modules
//! below it (docs/design.md, "The pieces, bottom up"). Checked on the
//! sources: every `crate::<module>` a core file names, in a `use` or in a
//! path, must be one of the modules its row allows. The integrations above
//! the core (`http`, `tower`, `tracing`, `log`, `carrier`, `spawn`, ...) may
//! use any core module, and no core module may name them. The server rules
//! shared by the integrations (`inbound`) name no integration.

use std::fs;
use std::path::Path;

/// Bottom first: each core module and the modules it may use.
const CORE: &[(&str, &[&str])] = &[
    ("id", &[]),
    ("misuse", &[]),
    ("key", &["id"]),
    ("frame", &["id", "misuse", "key"]),
    ("current", &["frame"]),
    ("token", &["key", "frame", "current"]),
    ("future", &["frame", "current"]),
    ("guard", &["misuse", "key", "frame", "current", "token"]),
    ("slot", &["id", "key", "current", "token", "guard"]),
    (
        "context",
        &["id", "key", "frame", "current", "future", "slot"],
    ),
];

/// The server rules every integration shares, in the same one-way order
/// (runtime/src/inbound/mod.rs).
const INBOUND: &[(&str, &[&str])] = &[
    ("trust", &[]),
    ("trace_context", &[]),
    ("request", &[]),
    ("decision", &["request", "trace_context", "trust"]),
    ("builder", &["decision", "trust"]),
    ("span", &["decision", "trace_context"]),
];

/// The tower integration's modules, in the same one-way order
/// (runtime/src/tower/mod.rs).
const TOWER: &[(&str, &[&str])] = &[
    ("peer", &[]),
    ("body", &[]),
    ("future", &["body"]),
    ("client", &[]),
    ("layer", &["body", "future", "peer"]),
    ("config", &["layer", "peer"]),
];

/// The actix-web integration's modules, in the same one-way order
/// (runtime/src/actix/mod.rs).
const ACTIX: &[(&str, &[&str])] = &[
    ("body", &[]),
    ("error", &[]),
    ("extract", &[]),
    ("future", &["body", "error"]),
    ("middleware", &["body", "future"]),
    ("config", &["middleware"]),
];

/// The integrations built on `inbound`, which it must never name.
const SERVER_INTEGRATIONS: &[&str] = &["tower", "actix"];

fn source(module: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime/src")
        .join(format!("{module}.rs"));
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The modules a source names as `<prefix><module>` (`crate::`, `super::`),
/// outside comments; a `use crate::{a, b::c}` group counts each of its first
/// segments.
fn modules_named(source: &str, prefix: &str) -> Vec<String> {
    let mut named = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            // `$crate::` in a `macro_rules!` names the user's path to the
            // crate's root, not a module.
            let in_macro = rest[..at].ends_with('$');
            rest = &rest[at + prefix.len()..];
            if in_macro {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let group = group.split('}').next().unwrap_or_default();
                named.extend(group.split(',').map(|item| first_segment(item.trim())));
            } else {
                named.push(first_segment(rest));
            }
        }
    }
    named.retain(|name| !name.is_empty());
    named.sort();
    named.dedup();
    named
}

fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every use of a module outside its row of `table` (listed bottom first),
/// in the sources under `dir`, named through `prefix`. With `only_table`,
/// names that are not modules of the table are ignored (in tower, a nested
/// module's `super::Item` names its own parent's items).
fn uses_outside_their_rows(
    table: &[(&str, &[&str])],
    dir: &str,
    prefix: &str,
    only_table: bool,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (index, (module, allowed)) in table.iter().enumerate() {
        let earlier: Vec<&str> = table[..index].iter().map(|(name, _)| *name).collect();
        for used in *allowed {
            assert!(
                earlier.contains(used),
                "the table lets {module} use {used}, which comes after it"
            );
        }
        for name in modules_named(&source(&format!("{dir}{module}")), prefix) {
            let counts = !only_table || table.iter().any(|(other, _)| *other == name);
            if counts && !allowed.contains(&name.as_str()) {
                wrong.push(format!("{dir}{module}.rs uses {prefix}{name}"));
            }
        }
    }
    wrong
}

#[test]
fn core_modules_use_only_the_modules_below_them() {
    let wrong = uses_outside_their_rows(CORE, "", "crate::", false);
    assert!(
        wrong.is_empty(),
        "core modules must use only the modules below them (docs/design.md):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn tower_modules_use_only_the_modules_above_them() {
    let wrong = uses_outside_their_rows(TOWER, "tower/", "super::", true);
    assert!(
        wrong.is_empty(),
        "tower modules must use only the modules above them (tower/mod.rs):\n{}",
        wrong.join("\n")
    );
}

/// The integrations above the core, and the other integrations each may
/// use: the job rules (`job`) build on `carrier`, and the job transports
/// (`apalis`, `nats`) on both; the rules never name a transport, so one
/// rule set serves them all (docs/design.md, "Jobs and messages"). `job`'s
/// unit tests format its debug logs with `crate::tracing`.
const INTEGRATIONS: &[(&str, &[&str])] = &[
    ("carrier", &[]),
    ("job", &["carrier", "tracing"]),
    ("apalis", &["carrier", "job"]),
    ("nats", &["carrier", "job"]),
];

#[test]
fn job_modules_use_only_the_integrations_below_them() {
    let integrations = [
        "carrier", "job", "apalis", "nats", "http", "tower", "tonic", "tracing", "log", "spawn",
    ];
    let mut wrong = Vec::new();
    for (module, allowed) in INTEGRATIONS {
        for name in modules_named(&source(module), "crate::") {
            if integrations.contains(&name.as_str()) && !allowed.contains(&name.as_str()) {
                wrong.push(format!("{module}.rs uses crate::{name}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the job rules must not depend on a transport:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn actix_modules_use_only_the_modules_above_them() {
    let wrong = uses_outside_their_rows(ACTIX, "actix/", "super::", true);
    assert!(
        wrong.is_empty(),
        "actix modules must use only the modules above them (actix/mod.rs):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn inbound_modules_use_only_the_modules_above_them() {
    let wrong = uses_outside_their_rows(INBOUND, "inbound/", "super::", true);
    assert!(
        wrong.is_empty(),
        "inbound modules must use only the modules above them (inbound/mod.rs):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_shared_server_rules_name_no_integration() {
    let files = INBOUND
        .iter()
        .map(|(module, _)| format!("inbound/{module}"))
        .chain(["inbound/mod".to_owned()]);
    let mut wrong = Vec::new();
    for file in files {
        for name in modules_named(&source(&file), "crate::") {
            if SERVER_INTEGRATIONS.contains(&name.as_str()) {
                wrong.push(format!("{file}.rs uses crate::{name}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the shared rules must not depend on an integration:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_core_module_is_in_the_table() {
    let lib = source("lib");
    for line in lib.lines() {
        let Some(name) = line.strip_prefix("mod ") else {
            continue;
        };
        let name = name.trim_end_matches(';');
        let integration_or_helper = ["fields", "inbound", "spawn"].contains(&name);
        assert!(
            integration_or_helper || CORE.iter().any(|(core, _)| *core == name),
            "lib.rs declares `mod {name}`: add it to the layering table (and to docs/design.md)"
        );
    }
}

#[test]
fn the_checker_reads_uses_groups_and_paths() {
    let source = "use crate::key::{SlotKey, Stored};\n\
                  use crate::{frame, misuse::Owner};\n\
                  // use crate::tower::Layer;\n\
                  let x = crate::context::Context::current(); // crate::log\n\
                  $crate::slot! { $($rest)* }\n";
    assert_eq!(
        modules_named(source, "crate::"),
        ["context", "frame", "key", "misuse"]
    );
}
