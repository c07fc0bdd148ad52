//! The host names this node answers to, for the Host/Origin checks against DNS rebinding.
//!
//! Entries (config `server.allowed_hosts`, the listen address) and the names in requests go
//! through the same [`normalize_host`], so `Node.LAN:7878`, `node.lan` and `node.lan.` are one
//! name, and `::1`, `[::1]` and `[0:0:0:0:0:0:0:1]:80` are another. Invariant: a name that
//! does not normalize is never allowed (it cannot match anything).

use std::collections::HashSet;

/// The one normalization of host names, shared with config validation.
pub use flightdeck_engine::config::normalize_host;

/// Names every node answers to.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];
/// Extra names of the desktop's webview (Windows serves the UI from `http://tauri.localhost`).
const WEBVIEW: [&str; 1] = ["tauri.localhost"];

/// Host names this node answers to.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    names: HashSet<String>,
    /// The desktop's in-process path: its webview's names and `tauri://localhost` too.
    webview: bool,
    /// The port this node serves on: an Origin must name it (a page on another local port
    /// is another site). `None` in-process, where the webview's origins are fixed.
    port: Option<u16>,
}

impl AllowedHosts {
    /// Loopback names (plus the webview's when `webview`), plus `extra` (config
    /// `server.allowed_hosts` and the listen address), normalized. An entry that does not
    /// normalize is left out with a warning: binaries check entries up front with
    /// [`normalize_host`] to refuse them with a clear message instead.
    pub fn new(extra: impl IntoIterator<Item = String>, webview: bool) -> Self {
        Self::serving(extra, webview, None)
    }

    /// [`AllowedHosts::new`] for a node serving on `port`: Origins must be
    /// `http://<allowed name>:<port>`.
    pub fn serving(
        extra: impl IntoIterator<Item = String>,
        webview: bool,
        port: Option<u16>,
    ) -> Self {
        let mut names: HashSet<String> = LOOPBACK.into_iter().map(String::from).collect();
        if webview {
            names.extend(WEBVIEW.into_iter().map(String::from));
        }
        for entry in extra {
            match normalize_host(&entry) {
                Ok(name) => {
                    names.insert(name);
                }
                Err(reason) => {
                    tracing::warn!(entry = %entry, %reason, "ignoring an allowed host entry");
                }
            }
        }
        Self {
            names,
            webview,
            port,
        }
    }

    /// Whether `authority` (`host[:port]` from a Host header or an Origin) names this node.
    pub fn allows(&self, authority: &str) -> bool {
        normalize_host(authority).is_ok_and(|name| self.names.contains(&name))
    }

    /// Whether a request from the page at `origin` may reach this node: scheme, host and port
    /// must be one of this node's own origins (the desktop's webview: `tauri://localhost`,
    /// `http://tauri.localhost`).
    pub fn allows_origin(&self, origin: &str) -> bool {
        if self.webview && (origin == "tauri://localhost" || origin == "http://tauri.localhost") {
            return true;
        }
        let Some((scheme, rest)) = origin.split_once("://") else {
            return false;
        };
        // The node serves plain HTTP (TLS arrives with fleets): its pages are `http://`.
        if scheme != "http" {
            return false;
        }
        let default_port = 80;
        if !self.allows(rest) {
            return false;
        }
        let Some(served) = self.port else {
            return true;
        };
        // The port after the host (IPv6 hosts are bracketed), or the scheme's default.
        let port = match rest.rsplit_once(':') {
            Some((host, p)) if !p.contains(']') && (!host.contains(':') || host.ends_with(']')) => {
                p.parse::<u16>().ok()
            }
            _ => Some(default_port),
        };
        port == Some(served)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_table() {
        let ok = [
            ("node.lan", "node.lan"),
            ("Node.LAN:7878", "node.lan"),
            ("node.lan.", "node.lan"),
            ("  node.lan  ", "node.lan"),
            ("my_host-1", "my_host-1"),
            ("10.0.0.7", "10.0.0.7"),
            ("10.0.0.7:80", "10.0.0.7"),
            ("::1", "[::1]"),
            ("[::1]", "[::1]"),
            ("[0:0:0:0:0:0:0:1]:7878", "[::1]"),
            ("FE80::A", "[fe80::a]"),
        ];
        for (entry, want) in ok {
            assert_eq!(normalize_host(entry).as_deref(), Ok(want), "{entry}");
        }
        let bad = [
            ("", "empty"),
            ("http://node.lan", "URL"),
            ("node.lan/x", "bare host"),
            ("user@node.lan", "bare host"),
            ("*.lan", "wildcard"),
            ("node.lan:http", "not a port"),
            ("node.lan:70000", "not a port"),
            ("node.lan:", "not a port"),
            ("[::1", "closing"),
            ("[nope]", "IPv6"),
            ("[::1]x", "after"),
            ("fe80::1:80:x", "IPv6"),
            ("-node", "host name"),
            ("a..b", "host name"),
            ("nöde", "host name"),
        ];
        for (entry, why) in bad {
            let err = normalize_host(entry).expect_err(entry);
            assert!(err.contains(why), "{entry}: {err}");
        }
    }

    #[test]
    fn host_and_origin_table() {
        let hosts = AllowedHosts::serving(
            ["Node.LAN".to_string(), "bad entry/".to_string()],
            false,
            Some(7878),
        );
        let cases = [
            ("127.0.0.1:7878", true),
            ("localhost", true),
            ("LOCALHOST:80", true),
            ("[::1]:7878", true),
            ("node.lan:7878", true),
            ("node.lan.", true),
            ("evil.example:7878", false),
            ("127.0.0.1.evil.example", false),
            ("tauri.localhost", false),
            ("bad entry/", false),
        ];
        for (h, ok) in cases {
            assert_eq!(hosts.allows(h), ok, "{h}");
        }
        let origins = [
            ("http://127.0.0.1:7878", true),
            ("http://[::1]:7878", true),
            ("http://node.lan:7878", true),
            // Another local port is another site: not trusted.
            ("http://localhost:1420", false),
            ("http://127.0.0.1:7879", false),
            ("http://[::1]", false),
            ("https://node.lan", false),
            ("http://127.0.0.1:7878:1", false),
            ("tauri://localhost", false),
            ("http://tauri.localhost", false),
            ("https://evil.example", false),
            ("null", false),
            ("file://", false),
        ];
        for (o, ok) in origins {
            assert_eq!(hosts.allows_origin(o), ok, "{o}");
        }
        let desktop = AllowedHosts::new(Vec::new(), true);
        assert!(desktop.allows_origin("tauri://localhost"));
        assert!(desktop.allows_origin("http://tauri.localhost"));
        assert!(!desktop.allows_origin("tauri://evil"));
    }
}
