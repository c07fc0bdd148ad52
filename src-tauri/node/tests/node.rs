//! End-to-end tests of the `flightdeck` binary: real processes, real HTTP and WebSocket on
//! 127.0.0.1, real SQLite files, the real keychain (gnome-keyring on a private D-Bus).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod node {
    pub mod support;

    mod approvals;
    mod budgets;
    mod cli;
    mod feed;
    mod http;
    mod keychain;
    mod ledger;
    mod lifecycle;
    mod secrets;
    mod tasks;
}
