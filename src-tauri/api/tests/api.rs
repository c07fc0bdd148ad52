//! Integration tests of the api crate: one binary, modules per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod approvals;
mod bindings;
mod budgets;
mod costs;
mod dashboard;
mod desktop_gateway;
mod feed;
mod forecasts;
mod gateway;
mod gateway_cache;
mod gateway_edges;
mod gateway_limits;
mod hosts;
mod reports;
mod router;
mod runs;
mod secrets;
mod support;
mod tasks;
mod tokens;
