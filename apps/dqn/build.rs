//! `ale-sys` links ALE's static C++ library but not the C++ standard library it needs.
fn main() {
    if std::env::var_os("CARGO_FEATURE_ATARI").is_some() {
        println!("cargo:rustc-link-lib=dylib=stdc++");
    }
}
