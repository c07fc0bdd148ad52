//! Authentication and authorization of `/api/v1`: the bearer token names an [`Actor`] (put in
//! the request's extensions for handlers, audit and logs) with a [`Scope`], the route needs a
//! scope, and clients that keep failing are locked out for a while.
//!
//! Scopes by route: `GET`/`HEAD` need `read`; tokens, secrets and config changes need
//! `admin` (listing tokens too); every other change (tasks, approvals) needs `operate`. The
//! bootstrap token (keychain or FLIGHTDECK_API_TOKEN) is `admin`; in-process it is the
//! desktop user.
//!
//! Lockout: after [`FAILURES_ALLOWED`] failed authentications from one client address within
//! [`WINDOW`], that address is refused (429, `Retry-After`) for 1 s, doubling with each
//! further lockout up to [`MAX_LOCKOUT`]; a success clears it. The table is bounded.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flightdeck_engine::ErrorCode;
use flightdeck_engine::identity::{Actor, Rejected, Scope};

use crate::error::ApiError;
use crate::{AppState, Transport};

/// Failures tolerated within [`WINDOW`] before a lockout.
pub const FAILURES_ALLOWED: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
pub const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Client addresses remembered at most (the oldest are forgotten first).
const MAX_CLIENTS: usize = 10_000;

/// The scope a request needs.
pub fn required_scope(method: &Method, path: &str) -> Scope {
    // With or without the prefix (a nested router sees the path without it).
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    if method == Method::GET || method == Method::HEAD {
        if under("/tokens") || under("/secrets") || under("/audit") {
            return Scope::Admin;
        }
        return Scope::Read;
    }
    // Budgets are written into the config file; re-pricing rewrites ledger costs.
    let admin = [
        "/tokens",
        "/secrets",
        "/config",
        "/audit",
        "/budgets",
        "/costs/reprice",
    ];
    if admin.iter().any(|p| under(p)) {
        return Scope::Admin;
    }
    // Editing an agent's templates writes the config file.
    if method == Method::PUT && under("/templates") {
        return Scope::Admin;
    }
    Scope::Operate
}

#[derive(Debug, Default)]
struct Client {
    failures: u32,
    window_start: Option<Instant>,
    lockouts: u32,
    locked_until: Option<Instant>,
    last_seen: Option<Instant>,
}

/// After this long without a lockout, a client's lockouts no longer escalate the next one.
pub const LOCKOUTS_FORGOTTEN_AFTER: Duration = Duration::from_secs(3600);

/// Whom failures are counted against: an IPv4 address, or an IPv6 /64 (one subscriber's
/// network: an attacker there has 2^64 addresses to rotate through). IPv4-mapped IPv6
/// addresses count as their IPv4 address.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
    }
}

/// Failed authentications per client address (see [`client_key`]).
#[derive(Debug, Default)]
pub struct AuthFailures {
    clients: Mutex<HashMap<IpAddr, Client>>,
}

impl AuthFailures {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Client>> {
        match self.clients.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// How long `ip` must still wait, if it is locked out.
    pub fn locked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let ip = client_key(ip);
        let clients = self.lock();
        let until = clients.get(&ip)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failure; returns the lockout it started, if any.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let ip = client_key(ip);
        let mut clients = self.lock();
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&ip) {
            // Forget the client seen longest ago.
            if let Some(oldest) = clients
                .iter()
                .min_by_key(|(_, c)| c.last_seen)
                .map(|(ip, _)| *ip)
            {
                clients.remove(&oldest);
            }
        }
        let c = clients.entry(ip).or_default();
        c.last_seen = Some(now);
        if c.locked_until
            .is_some_and(|until| now.saturating_duration_since(until) > LOCKOUTS_FORGOTTEN_AFTER)
        {
            c.lockouts = 0;
            c.locked_until = None;
        }
        if c.window_start
            .is_none_or(|s| now.duration_since(s) > WINDOW)
        {
            c.window_start = Some(now);
            c.failures = 0;
        }
        c.failures += 1;
        if c.failures < FAILURES_ALLOWED {
            return None;
        }
        let lockout = Duration::from_secs(1u64 << c.lockouts.min(20)).min(MAX_LOCKOUT);
        c.lockouts += 1;
        c.failures = 0;
        c.window_start = None;
        c.locked_until = Some(now + lockout);
        Some(lockout)
    }

    /// A success clears the client's failures, not its lockouts: interleaving one good
    /// token with guesses must not reset the escalation (lockouts are forgotten after
    /// [`LOCKOUTS_FORGOTTEN_AFTER`] without one).
    pub fn succeeded(&self, ip: IpAddr) {
        let ip = client_key(ip);
        let mut clients = self.lock();
        if let Some(c) = clients.get_mut(&ip) {
            if c.lockouts == 0 {
                clients.remove(&ip);
            } else {
                c.failures = 0;
                c.window_start = None;
            }
        }
    }
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(crate) fn lockout_message(wait: Duration) -> String {
    format!(
        "too many failed authentications from this address; try again in {} s",
        wait.as_secs().max(1)
    )
}

fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooManyAuthFailures,
        lockout_message(wait),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Why a presented token was not accepted.
pub(crate) enum Refusal {
    /// This address failed too often; it may try again after this long.
    LockedOut(Duration),
    /// Missing, wrong or expired: the error to answer with.
    Failed(ApiError),
}

/// The one token check, for the Router's middleware and the feed's first message alike:
/// the lockout of `ip` (TCP clients only), the bootstrap token, then the named tokens;
/// failures are counted in `flightdeck_auth_failures_total{reason}` and towards the lockout.
pub(crate) fn authenticate(
    state: &AppState,
    token: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<(Actor, Scope), Refusal> {
    let now = Instant::now();
    let metrics = state.engine.metrics();
    if let Some(ip) = ip
        && let Some(wait) = state.auth_failures.locked_for(ip, now)
    {
        metrics
            .auth_failures
            .with_label_values(&["locked_out"])
            .inc();
        return Err(Refusal::LockedOut(wait));
    }
    let outcome = match token {
        None => Err((
            "missing",
            ApiError::unauthorized(
                "missing `Authorization: Bearer <token>` header (`flightdeck token` prints it)",
            ),
        )),
        Some(p) if state.token.matches(p) => Ok(match state.transport {
            Transport::InProcess => (
                Actor::Desktop {
                    user: state.desktop_user.clone(),
                },
                Scope::Admin,
            ),
            Transport::Tcp => (Actor::Bootstrap, Scope::Admin),
        }),
        Some(p) => match state.engine.identity().authenticate(p) {
            Ok((name, scope)) => Ok((Actor::Token { name }, scope)),
            Err(Rejected::Expired) => Err((
                "expired",
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::TokenExpired,
                    "this token has expired; create a new one (`flightdeck token create`)",
                ),
            )),
            Err(Rejected::Unknown) => Err(("wrong", ApiError::unauthorized("wrong bearer token"))),
        },
    };
    match outcome {
        Ok(found) => {
            if let Some(ip) = ip {
                state.auth_failures.succeeded(ip);
            }
            Ok(found)
        }
        Err((reason, error)) => {
            metrics.auth_failures.with_label_values(&[reason]).inc();
            // A missing header is no guess at a token: it does not count towards a lockout.
            if reason != "missing"
                && let Some(ip) = ip
                && let Some(lockout) = state.auth_failures.failed(ip, now)
            {
                tracing::warn!(client = %ip, seconds = lockout.as_secs(), "locking out a client after repeated failed authentications");
            }
            Err(Refusal::Failed(error))
        }
    }
}

/// The client address the lockout counts against: TCP peers only (in-process requests come
/// from the desktop's own shell).
pub(crate) fn client_ip(
    state: &AppState,
    connect: Option<&ConnectInfo<SocketAddr>>,
) -> Option<IpAddr> {
    connect
        .map(|c| c.0.ip())
        .filter(|_| state.transport == Transport::Tcp)
}

/// The answer to a refusal.
pub(crate) fn refusal_response(refusal: Refusal) -> Response {
    match refusal {
        Refusal::LockedOut(wait) => too_many(wait),
        Refusal::Failed(error) => error.into_response(),
    }
}

/// Requires `Authorization: Bearer <token>` with a scope that covers the request.
pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let ip = client_ip(&state, req.extensions().get::<ConnectInfo<SocketAddr>>());
    let (actor, scope) = match authenticate(&state, bearer(&req), ip) {
        Ok(found) => found,
        Err(refusal) => return refusal_response(refusal),
    };

    // The full path: inside the nested `/api/v1` router the URI has lost its prefix.
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| req.uri().path().to_string(), |u| u.0.path().to_string());
    let needed = required_scope(req.method(), &path);
    if scope < needed {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::InsufficientScope,
            format!(
                "this token's scope is {}; {} {} needs {}",
                scope.as_str(),
                req.method(),
                path,
                needed.as_str()
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(actor);
    req.extensions_mut().insert(scope);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_by_route() {
        let cases = [
            (Method::GET, "/api/v1/info", Scope::Read),
            (Method::GET, "/api/v1/tokens", Scope::Admin),
            (Method::POST, "/api/v1/tokens", Scope::Admin),
            (Method::DELETE, "/api/v1/tokens/ci", Scope::Admin),
            (Method::POST, "/api/v1/config/reload", Scope::Admin),
            (Method::GET, "/api/v1/secrets", Scope::Admin),
            (Method::POST, "/api/v1/tasks", Scope::Operate),
            (Method::PUT, "/api/v1/templates/greeter", Scope::Admin),
            (Method::POST, "/api/v1/templates/preview", Scope::Operate),
            (Method::POST, "/api/v1/runs", Scope::Operate),
            (Method::POST, "/api/v1/approvals/1/decision", Scope::Operate),
            (Method::POST, "/api/v1/approvals", Scope::Operate),
            (Method::GET, "/api/v1/approvals", Scope::Read),
            (Method::POST, "/api/v1/policies/explain", Scope::Operate),
            (Method::GET, "/api/v1/audit", Scope::Admin),
            (Method::POST, "/api/v1/costs/reprice", Scope::Admin),
            (Method::POST, "/api/v1/reconciliations", Scope::Operate),
            (Method::GET, "/api/v1/costs/price-gaps", Scope::Read),
            (Method::GET, "/api/v1/audit/export", Scope::Admin),
            (Method::POST, "/api/v1/audit/verify", Scope::Admin),
            (Method::GET, "/tokens", Scope::Admin),
            (Method::POST, "/config/validate", Scope::Admin),
            (Method::POST, "/configure-thing", Scope::Operate),
        ];
        for (m, p, s) in cases {
            assert_eq!(required_scope(&m, p), s, "{m} {p}");
        }
    }

    #[test]
    fn lockout_after_repeated_failures_backs_off_and_clears() {
        let f = AuthFailures::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..FAILURES_ALLOWED - 1 {
            assert_eq!(f.failed(ip, t0), None);
        }
        assert_eq!(f.failed(ip, t0), Some(Duration::from_secs(1)));
        assert!(f.locked_for(ip, t0).is_some());
        assert_eq!(f.locked_for(ip, t0 + Duration::from_secs(2)), None);
        let t1 = t0 + Duration::from_secs(2);
        for _ in 0..FAILURES_ALLOWED - 1 {
            f.failed(ip, t1);
        }
        assert_eq!(f.failed(ip, t1), Some(Duration::from_secs(2)), "doubles");
        // A success between rounds clears the failures but not the escalation.
        let t2 = t1 + Duration::from_secs(3);
        f.succeeded(ip);
        assert_eq!(f.locked_for(ip, t2), None);
        for _ in 0..FAILURES_ALLOWED - 1 {
            assert_eq!(f.failed(ip, t2), None);
        }
        assert_eq!(
            f.failed(ip, t2),
            Some(Duration::from_secs(4)),
            "still doubles"
        );
        // An hour without a lockout: forgotten, back to 1 s.
        let t3 = t2 + Duration::from_secs(4) + LOCKOUTS_FORGOTTEN_AFTER + Duration::from_secs(1);
        for _ in 0..FAILURES_ALLOWED - 1 {
            f.failed(ip, t3);
        }
        assert_eq!(f.failed(ip, t3), Some(Duration::from_secs(1)));
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(f.locked_for(other, t3), None, "per address");
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let f = AuthFailures::default();
        let t0 = Instant::now();
        // Rotating through one /64 does not escape the count.
        for i in 0..FAILURES_ALLOWED {
            let ip: IpAddr = format!("2001:db8:0:7::{:x}", i + 1).parse().unwrap();
            f.failed(ip, t0);
        }
        let same_net: IpAddr = "2001:db8:0:7:ffff::1".parse().unwrap();
        assert!(f.locked_for(same_net, t0).is_some());
        let next_net: IpAddr = "2001:db8:0:8::1".parse().unwrap();
        assert_eq!(f.locked_for(next_net, t0), None);
        // ::ffff:192.0.2.9 is 192.0.2.9.
        let mapped: IpAddr = "::ffff:192.0.2.9".parse().unwrap();
        for _ in 0..FAILURES_ALLOWED {
            f.failed(mapped, t0);
        }
        assert!(f.locked_for("192.0.2.9".parse().unwrap(), t0).is_some());
    }
}
