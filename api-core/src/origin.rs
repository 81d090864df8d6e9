//! Who may open a room WebSocket: a browser page whose Origin is one of the configured
//! origins. Never derived from the request's Host (a hostile page can reach a server
//! under any host name it controls: DNS rebinding).

/// True when a request with these `Origin` header values may open a socket: none at all
/// (not a browser; browsers always send Origin on WebSocket upgrades), or exactly one
/// that equals an `allowed` origin (ASCII case-insensitive).
pub fn origin_allowed<'a>(mut origins: impl Iterator<Item = Option<&'a str>>, allowed: &[String]) -> bool {
    let Some(origin) = origins.next() else { return true };
    if origins.next().is_some() {
        return false;
    }
    let Some(origin) = origin else { return false };
    allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn only_one_configured_origin_or_none_at_all() {
        let allowed = vec!["http://127.0.0.1:8080".to_owned()];
        assert!(origin_allowed(std::iter::empty(), &allowed));
        assert!(origin_allowed([Some("http://127.0.0.1:8080")].into_iter(), &allowed));
        assert!(origin_allowed([Some("HTTP://127.0.0.1:8080")].into_iter(), &allowed));
        assert!(!origin_allowed([Some("http://evil.example")].into_iter(), &allowed));
        assert!(!origin_allowed([Some("http://127.0.0.1:8080"), Some("http://127.0.0.1:8080")].into_iter(), &allowed));
        assert!(!origin_allowed([None].into_iter(), &allowed), "a value that is not text");
    }
}
