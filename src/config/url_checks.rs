//! Checks of URL-valued settings, and the only way their values are shown: never with a password, a
//! token or a URL's userinfo, whether or not the value parses.

use std::path::Path;

use url::Url;

use super::{invalid, ConfigError};

/// A URL as it may appear in an error line or in `Debug` output: scheme, host and port of a URL that
/// parses with a host (`https://example.com/…`); for anything else only the scheme (`postgres:…`).
pub(crate) fn shown_url(value: &str) -> String {
    let value = value.trim();
    if let Ok(url) = Url::parse(value) {
        if let Some(host) = url.host_str().filter(|h| !h.is_empty()) {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if url.path().trim_start_matches('/').is_empty() && url.query().is_none() {
                ""
            } else {
                "/…"
            };
            return format!("{}://{host}{port}{rest}", url.scheme());
        }
    }
    match value.split_once(':') {
        Some((scheme, _)) if is_scheme(scheme) => format!("{scheme}:…"),
        _ => "…".to_owned(),
    }
}

/// A parsed URL without its userinfo (for `Debug` output).
pub(crate) fn without_userinfo(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && s.len() <= 16
}

/// Checks that `DATABASE_URL` names a store that can be opened: an SQLite file in a directory that
/// exists (or an in-memory database), or a PostgreSQL URL with a host.
pub(crate) fn check_database_url(value: &str) -> Result<(), ConfigError> {
    const VAR: &str = "DATABASE_URL";
    if let Some(rest) = value.strip_prefix("sqlite:") {
        // A path is not a secret, but a URL with userinfo may hide one.
        let shown = if value.contains('@') {
            "sqlite:…".to_owned()
        } else {
            value.to_owned()
        };
        let database = rest.trim_start_matches("//");
        let (path, params) = database.split_once('?').unwrap_or((database, ""));
        if path == ":memory:" || params.contains("mode=memory") || path.starts_with("file:") {
            return Ok(());
        }
        if path.is_empty() {
            return Err(invalid(
                VAR,
                &shown,
                "has an empty database path (e.g. sqlite://mms-gateway.db)",
            ));
        }
        let path = Path::new(path);
        if path.is_dir() {
            return Err(invalid(
                VAR,
                &shown,
                "names a directory, not a database file",
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(invalid(
                    VAR,
                    &shown,
                    "names a directory that does not exist",
                ));
            }
        }
        return Ok(());
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        let shown = shown_url(value);
        let url =
            Url::parse(value).map_err(|_| invalid(VAR, &shown, "is not a valid PostgreSQL URL"))?;
        let has_host = url.host_str().is_some_and(|h| !h.is_empty())
            || url.query_pairs().any(|(k, v)| k == "host" && !v.is_empty());
        if !has_host {
            return Err(invalid(
                VAR,
                &shown,
                "has no host (e.g. postgres://user@db.example.com/mms)",
            ));
        }
        return Ok(());
    }
    Err(invalid(
        VAR,
        &shown_url(value),
        "must start with sqlite: or postgres://",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_never_hold_userinfo() {
        for (value, shown) in [
            ("https://u:pw@example.com/x?y", "https://example.com/…"),
            ("https://example.com:8443", "https://example.com:8443"),
            ("postgres:/user:pw@host/db", "postgres:…"),
            ("postgresql:u:pw@h", "postgresql:…"),
            ("pg:u:pw@x", "pg:…"),
            ("u:pw@x", "u:…"),
            ("https://u:pw@exa mple.com", "https:…"),
            ("no scheme at all", "…"),
        ] {
            assert_eq!(shown_url(value), shown, "{value}");
        }
        let url = Url::parse("https://u:pw@example.com/a").unwrap();
        assert_eq!(without_userinfo(&url), "https://example.com/a");
    }

    #[test]
    fn usable_database_urls_pass() {
        for url in [
            "sqlite://mms-gateway.db",
            "sqlite:mms.db?mode=rwc",
            "sqlite::memory:",
            "postgres://u:pw@db.example.com/mms",
            "postgresql:///mms?host=/var/run/postgresql",
        ] {
            assert_eq!(check_database_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn unusable_database_urls_are_refused() {
        for url in [
            "sqlite:",
            "sqlite://",
            "sqlite:/nonexistent/dir/x.db",
            "sqlite:/",
            "postgres://",
            "postgres://u:pw@/db",
            "mysql://h/db",
        ] {
            let e = check_database_url(url).unwrap_err();
            assert!(!e.to_string().contains("pw"), "{e}");
            assert!(e.to_string().starts_with("DATABASE_URL"), "{e}");
        }
    }
}
