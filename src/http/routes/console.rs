//! `GET /console` and its assets under `/console/`: the operator's web page, built into the
//! binary (`assets/console/`, embedded at compile time). The page is plain HTML, CSS and a little
//! JavaScript; everything it shows it reads from the JSON API with the operator's key, so serving
//! it needs no key and reveals nothing (see `docs/api.md`, `GET /console`).

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api_error::ApiError;

/// The Content-Security-Policy of the console and its assets: only this service's own scripts,
/// styles, images and API (no inline script or style, nothing from elsewhere, no framing).
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether `path` is the console or one of its assets (they carry [`CONSOLE_CSP`] and need no key).
pub fn is_console_path(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

const INDEX_HTML: &str = include_str!("../../../assets/console/index.html");

/// The assets the page loads, by file name: content type and bytes.
const ASSETS: [(&str, &str, &str); 3] = [
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/console/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../../assets/console/console.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../../assets/console/icon.svg"),
    ),
];

/// The console: message log, one message's page, opt-outs, and the outbox numbers.
#[utoipa::path(get, path = "/console", tag = "operations", security(()),
    responses(
        (status = 200, description = "The console's web page (it asks for an API key when API_KEYS is set and reads everything from this API)", content_type = "text/html", body = String),
    ))]
pub async fn console() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX_HTML,
    )
        .into_response()
}

/// A script, style sheet or icon of the console.
#[utoipa::path(get, path = "/console/{asset}", tag = "operations", security(()),
    params(("asset" = String, Path, description = "console.js, console.css or icon.svg")),
    responses(
        (status = 200, description = "The asset", content_type = "text/plain", body = String),
        (status = 404, description = "No such asset", body = crate::http::openapi::ErrorResponse),
    ))]
pub async fn console_asset(
    asset: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let found = asset
        .ok()
        .and_then(|Path(name)| ASSETS.into_iter().find(|(file, _, _)| *file == name));
    match found {
        Some((_, content_type, body)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        None => ApiError::not_found("The console has no such file.").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths_are_the_page_and_what_is_under_it() {
        assert!(is_console_path("/console"));
        assert!(is_console_path("/console/console.js"));
        assert!(!is_console_path("/consoles"));
        assert!(!is_console_path("/messages"));
    }

    #[test]
    fn the_page_loads_only_its_own_assets_and_has_no_inline_script_or_style() {
        for (file, _, _) in ASSETS {
            if file != "icon.svg" {
                assert!(INDEX_HTML.contains(&format!("/console/{file}")), "{file}");
            }
        }
        assert!(!INDEX_HTML.contains("<script>"), "inline script");
        assert!(!INDEX_HTML.contains("<style"), "inline style");
        assert!(!INDEX_HTML.contains(" style="), "inline style attribute");
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
        let js = ASSETS[0].2;
        assert!(!js.contains("localStorage.setItem") && !js.contains("document.cookie"));
        assert!(
            !js.contains("innerHTML"),
            "the script builds the page from text only"
        );
    }

    #[test]
    fn the_policy_allows_only_self() {
        for part in CONSOLE_CSP.split(';').map(str::trim) {
            let mut words = part.split_whitespace();
            let _directive = words.next();
            for source in words {
                assert!(matches!(source, "'self'" | "'none'"), "{part}");
            }
        }
    }
}
