//! Default locations, following the XDG base directories on Linux (and the platform's
//! conventions elsewhere, through `directories`). Nothing here creates directories.

use std::path::PathBuf;

/// `~/.local/share/flightdeck` on Linux: the database and, with `--secrets file`, the token.
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "flightdeck").map(|d| d.data_dir().to_path_buf())
}

/// `~/.config/flightdeck/flightdeck.toml` on Linux.
pub fn default_config_file() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "flightdeck")
        .map(|d| d.config_dir().join("flightdeck.toml"))
}
