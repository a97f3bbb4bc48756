//! The workspace as the root README describes it: every member named in its layout.

use std::path::Path;

#[test]
fn the_readme_layout_names_every_workspace_member() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&manifest).unwrap();
    let members: Vec<&str> = manifest["workspace"]["members"]
        .as_array()
        .expect("a members list")
        .iter()
        .map(|m| m.as_str().expect("a path"))
        .collect();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let layout = readme
        .split("## Layout")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("README.md has a Layout section with a text block");
    assert!(members.len() >= 9, "members: {members:?}");
    for member in members {
        let named = match member.strip_prefix("apps/") {
            // Apps are listed by name on the apps/<name>/ line.
            Some(app) => layout.lines().any(|l| l.starts_with("apps/") && l.contains(app)),
            None => layout.lines().any(|l| l.starts_with(&format!("{member}/"))),
        };
        assert!(named, "the README's layout does not name the workspace member {member}");
    }
}
