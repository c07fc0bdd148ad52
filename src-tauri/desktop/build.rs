//! Build script of the desktop shell: Tauri's context (config, capabilities, icons) and the
//! permissions of the app's own three commands.

fn main() {
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("src-tauri/desktop/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(&[
            "api_request",
            "feed_subscribe",
            "feed_unsubscribe",
        ]));
    if let Err(error) = tauri_build::try_build(attributes) {
        eprintln!("tauri-build failed: {error:#}");
        std::process::exit(1);
    }
}
