//! Host names as `server.allowed_hosts` and the Host/Origin checks see them: one
//! normalization (case, brackets, canonical IPs, ports and trailing dots dropped), so config
//! validation refuses exactly the entries the API could never match. Pure string work: it
//! never resolves a name.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The host part of `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address,
/// lower-cased, IPv6 in brackets, IPs in their canonical form, a trailing dot removed.
///
/// Errors name what is wrong, for a config message: URLs, paths, user info, wildcards, bad
/// ports and characters a host name cannot have are refused.
pub fn normalize_host(entry: &str) -> Result<String, String> {
    let s = entry.trim();
    if s.is_empty() {
        return Err("empty host name".into());
    }
    if s.contains("://") {
        return Err("a host name, not a URL: drop the scheme (e.g. `node.lan`)".into());
    }
    if s.contains(['/', '@', '?', '#', '*', ' ', '\t']) {
        return Err("a bare host name or IP is expected (no path, user, query or wildcard)".into());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or("`[` without a closing `]`")?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| format!("`{inside}` is not an IPv6 address"))?;
        match after {
            "" => {}
            p => check_port(p.strip_prefix(':').ok_or("unexpected text after `]`")?)?,
        }
        return Ok(format!("[{ip}]"));
    }
    if s.matches(':').count() > 1 {
        // A bare IPv6 address (it cannot carry a port without brackets).
        let ip: Ipv6Addr = s.parse().map_err(|_| {
            format!("`{s}` is not an IPv6 address (put it in brackets to add a port)")
        })?;
        return Ok(format!("[{ip}]"));
    }
    let name = match s.split_once(':') {
        Some((name, port)) => {
            check_port(port)?;
            name
        }
        None => s,
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return Ok(ip.to_string());
    }
    check_dns_name(&name)?;
    Ok(name)
}

fn check_port(port: &str) -> Result<(), String> {
    match port.parse::<u16>() {
        Ok(_) if !port.starts_with('+') => Ok(()),
        _ => Err(format!("`{port}` is not a port")),
    }
}

fn check_dns_name(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("a host name is at most 253 characters".into());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(format!(
                "`{name}` is not a host name (letters, digits, `-` and `_` between dots)"
            ));
        }
    }
    Ok(())
}
