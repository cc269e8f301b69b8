//! Link settings of the `certgate` binary's release builds (x86_64 Linux, GNU libc,
//! linked by rustc's lld as it is by default there). The code the controller runs is
//! placed first, in the order `release/code-order.txt` lists its functions, and the
//! relative relocations are packed (`DT_RELR`, glibc 2.36 or later): both lower the
//! process's resident memory (docs/scale.md, "Code pages"). `tools/code-order.py`
//! writes the list; functions it does not name keep the linker's order after it.
//! `CERTGATE_CODE_ORDER=0` turns both off, as does any linker choice in RUSTFLAGS.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=release/code-order.txt");
    println!("cargo:rerun-if-env-changed=CERTGATE_CODE_ORDER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let wanted = var("PROFILE") == "release"
        && var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("CERTGATE_CODE_ORDER") != "0"
        // Another linker (or lld turned off) may not know these flags.
        && !var("CARGO_ENCODED_RUSTFLAGS").contains("link");
    if !wanted {
        return;
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("release/code-order.txt");
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
