// Shared by every board's build.rs (`include!`d): put the board's memory.x
// where cortex-m-rt's link.x finds it, and link with defmt's section script.
fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
    // Test binaries of boards that run on-target tests (embedded-test).
    if std::path::Path::new("tests").is_dir() {
        println!("cargo:rustc-link-arg-tests=-Tembedded-test.x");
    }
}
