//! Files the window downloads (a ledger export, a chart, a report): saved into the user's
//! Downloads folder under the name the page gave, never over an existing file, and announced
//! by a desktop notification. Left to itself, WebKitGTK writes a download into the process's
//! working directory (wherever the app was started from) and says nothing.
//!
//! Must never: overwrite a file, or write outside the Downloads folder (the page's name is
//! reduced to a plain file name).

use std::path::{Path, PathBuf};

use tauri::webview::DownloadEvent;
use tauri::{Manager, Runtime, Webview};
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
