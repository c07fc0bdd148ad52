//! Integration tests of the api crate: one binary, modules per concern.

mod bindings;
mod router;
