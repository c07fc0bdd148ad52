//! From a request's `model` to the hops to try: a route name (its chain), or a
//! `provider/model` reference of a configured provider; each hop with the settings it keeps
//! for the whole call.
//!
//! Invariants: resolution reads one config snapshot; an unknown name is an error that lists
//! what is configured.

use std::sync::Arc;

use super::settings::{Resolved, split_ref};
use crate::config::Config;

/// What a call will try.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The route asked for (when `model` named one).
    pub route: Option<String>,
    pub hops: Vec<Resolved>,
    /// The route opted in to the response cache.
    pub route_cache: bool,
    /// `provider/model` of every hop: part of the cache key.
    pub chain: Vec<String>,
}

/// Why `model` could not be resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownModel(pub String);

pub fn resolve(config: &Arc<Config>, model: &str) -> Result<Plan, UnknownModel> {
    let view = config.providers_view();
    if let Some(route) = config.routes.get(model) {
        let hops: Vec<Resolved> = route
            .chain
            .iter()
            .filter_map(|r| split_ref(r).and_then(|(p, m)| view.resolve(p, m)))
            .collect();
        return Ok(Plan {
            route: Some(model.to_string()),
            chain: route.chain.clone(),
            hops,
            route_cache: route.cache,
        });
    }
    if let Some((p, m)) = split_ref(model)
        && let Some(hop) = view.resolve(p, m)
    {
        return Ok(Plan {
            route: None,
            chain: vec![model.to_string()],
            hops: vec![hop],
            route_cache: false,
        });
    }
    let routes: Vec<&str> = config.routes.keys().map(String::as_str).collect();
    let providers: Vec<&str> = config.providers.keys().map(String::as_str).collect();
    let list = |v: &[&str]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let why = match split_ref(model) {
        Some((p, _)) => format!(
            "model `{model}` names provider `{p}`, which is not configured (providers: {})",
            list(&providers)
        ),
        None => format!(
            "model `{model}` is neither a route nor a `provider/model` reference (routes: {}; providers: {})",
            list(&routes),
            list(&providers)
        ),
    };
    Err(UnknownModel(why))
}
