//! An empty Tauri 2 window: the baseline for the desktop figures in docs/benchmarks.md.
fn main() {
    if let Err(e) = tauri::Builder::default().run(tauri::generate_context!()) {
        eprintln!("empty-tauri: {e}");
        std::process::exit(1);
    }
}
