//! DESIGN.md's crate layering, read from `cargo metadata` (as DataFusion's `dev/depcheck` does):
//! `itscam-geo`, `itscam-types` and `itscam-imaging` (pictures, no engine types) at the
//! bottom; `itscam-operators`, `itscam-queries` and
//! `itscam-sinks` above them and never importing one another (queries and sinks above all);
//! the engine (`itscam`) on top, imported by nothing but the benchmarks.

use std::collections::{BTreeMap, BTreeSet};

/// The workspace crates each crate may depend on (normal, dev and build dependencies alike).
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("itscam-geo", &[][..]),
        ("itscam-types", &["itscam-geo"][..]),
        ("itscam-imaging", &[][..]),
        ("itscam-operators", &["itscam-types", "itscam-geo"][..]),
        ("itscam-queries", &["itscam-types", "itscam-geo"][..]),
        ("itscam-sinks", &["itscam-types", "itscam-geo"][..]),
        ("itscam", &["itscam-types", "itscam-geo", "itscam-imaging", "itscam-operators", "itscam-queries", "itscam-sinks"][..]),
        ("itscam-bench", &["itscam-types", "itscam-geo", "itscam-imaging", "itscam-operators", "itscam-queries", "itscam-sinks", "itscam"][..]),
    ])
}

#[test]
fn the_crates_depend_on_each_other_as_the_design_layers_them() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let members: BTreeSet<String> = meta["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    let allowed = allowed();
    let known: BTreeSet<String> = allowed.keys().map(|k| k.to_string()).collect();
    assert_eq!(members, known, "a workspace crate was added or renamed: place it in the layering above and in DESIGN.md");
    let mut wrong = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        for d in p["dependencies"].as_array().unwrap() {
            let dep = d["name"].as_str().unwrap();
            if members.contains(dep) && !allowed[name].contains(&dep) {
                wrong.push(format!("{name} → {dep} ({})", d["kind"].as_str().unwrap_or("normal")));
            }
        }
    }
    assert!(wrong.is_empty(), "dependencies against the layering: {wrong:?}");
}
