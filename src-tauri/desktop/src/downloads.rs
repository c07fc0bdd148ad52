//! Files the window downloads (a ledger export, a chart, a report): saved into the user's
//! Downloads folder under the name the page gave, never over an existing file, and announced
//! by a desktop notification. Left to itself, WebKitGTK writes a download into the process's
//! working directory (wherever the app was started from) and says nothing.
//!
//! A page the window opens (`window.open` of a report's HTML: a blank window opened in the
//! click, then given the `blob:` URL the UI made) gets a window of its own; left to itself,
//! WebKitGTK refuses it and the UI can only say so.
//!
//! Must never: overwrite a file, or write outside the Downloads folder (the page's name is
//! reduced to a plain file name); open anything but the UI's own `blob:` pages, or give an
//! opened page the app's commands (the capability is the `main` window's only) or a way on
//! (no navigation, no further windows, no downloads).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tauri::webview::{DownloadEvent, NewWindowFeatures, NewWindowResponse};
use tauri::{AppHandle, Manager, Runtime, Url, Webview, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_notification::NotificationExt;

/// Where downloads go: the XDG Downloads folder, or `~/Downloads` where none is set.
pub fn folder<R: Runtime, M: Manager<R>>(app: &M) -> Option<PathBuf> {
    app.path()
        .download_dir()
        .ok()
        .or_else(|| app.path().home_dir().ok().map(|h| h.join("Downloads")))
}

/// A plain file name from what the page suggested (no folders, no leading dots).
pub fn file_name(suggested: &Path) -> String {
    let name = suggested
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let name = name.trim_start_matches('.').trim();
    if name.is_empty() {
        "download".into()
    } else {
        name.to_string()
    }
}

/// `name` in `dir`, or `stem (2).ext`, `stem (3).ext`… when taken.
pub fn unique(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
        _ => (name.to_string(), String::new()),
    };
    (2..10_000)
        .map(|i| dir.join(format!("{stem} ({i}){ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// The webview's download handler.
pub fn handle<R: Runtime>(webview: Webview<R>, event: DownloadEvent<'_>) -> bool {
    match event {
        DownloadEvent::Requested { url, destination } => {
            let Some(dir) = folder(&webview) else {
                tracing::warn!(%url, "no Downloads folder and no home directory: download refused");
                return false;
            };
            if let Err(error) = std::fs::create_dir_all(&dir) {
                tracing::warn!(%error, dir = %dir.display(), "cannot make the Downloads folder: download refused");
                return false;
            }
            *destination = unique(&dir, &file_name(destination));
            tracing::info!(path = %destination.display(), "download started");
            true
        }
        DownloadEvent::Finished { url, path, success } => {
            let shown = path.as_deref().map(|p| p.display().to_string());
            let (title, body) = if success {
                tracing::info!(path = ?shown, "download saved");
                (
                    "Download saved".to_string(),
                    shown.unwrap_or_else(|| "Saved in your Downloads folder.".into()),
                )
            } else {
                tracing::warn!(%url, path = ?shown, "download failed");
                (
                    "Download failed".to_string(),
                    shown.map_or_else(
                        || "The file could not be saved.".into(),
                        |p| format!("{p} could not be saved."),
                    ),
                )
            };
            if let Err(error) = webview
                .app_handle()
                .notification()
                .builder()
                .title(&title)
                .body(&body)
                .show()
            {
                tracing::debug!(%error, "no notification for the download");
            }
            true
        }
        _ => true,
    }
}

/// The main window's new-window handler: a blank or `blob:` page in a window of its own.
pub fn opener<R: Runtime>(
    app: AppHandle<R>,
) -> impl Fn(Url, NewWindowFeatures) -> NewWindowResponse<R> + Send + 'static {
    let opened = AtomicU64::new(0);
    move |url, features| {
        tracing::info!(%url, "new window asked");
        // The UI opens `about:blank` in the click, then sets the page's `blob:` URL.
        if url.scheme() != "blob" && url.as_str() != "about:blank" {
            tracing::warn!(%url, "a page asked to open a window: refused");
            return NewWindowResponse::Deny;
        }
        let Ok(blank) = Url::parse("about:blank") else {
            return NewWindowResponse::Deny;
        };
        let label = format!("page-{}", opened.fetch_add(1, Ordering::Relaxed) + 1);
        let built = WebviewWindowBuilder::new(&app, label, WebviewUrl::External(blank))
            .window_features(features)
            .title("Flightdeck")
            .inner_size(1000.0, 760.0)
            .on_navigation(|u| u.scheme() == "blob" || u.as_str() == "about:blank")
            .on_new_window(|_, _| NewWindowResponse::Deny)
            .on_download(|_, _| false)
            .on_document_title_changed(|window, title| {
                let _ = window.set_title(&title);
            })
            .build();
        match built {
            Ok(window) => NewWindowResponse::Create { window },
            Err(error) => {
                tracing::warn!(%error, "cannot open a window for a page");
                NewWindowResponse::Deny
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_file_names() {
        assert_eq!(
            file_name(Path::new("/tmp/x/flightdeck-ledger-this_month.csv")),
            "flightdeck-ledger-this_month.csv"
        );
        assert_eq!(file_name(Path::new("../../.bashrc")), "bashrc");
        assert_eq!(file_name(Path::new("")), "download");
        assert_eq!(file_name(Path::new("/")), "download");
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let first = unique(dir.path(), "report.html");
        assert_eq!(first, dir.path().join("report.html"));
        std::fs::write(&first, "a").unwrap();
        let second = unique(dir.path(), "report.html");
        assert_eq!(second, dir.path().join("report (2).html"));
        std::fs::write(&second, "b").unwrap();
        assert_eq!(
            unique(dir.path(), "report.html"),
            dir.path().join("report (3).html")
        );
        std::fs::write(dir.path().join("notes"), "c").unwrap();
        assert_eq!(unique(dir.path(), "notes"), dir.path().join("notes (2)"));
    }
}
