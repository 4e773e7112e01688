//! The web dashboard (`engine/dashboard/`), embedded in the binary: `GET /` (the page) and
//! `GET /assets/{file}` (its scripts, style sheet and icon). Both are public: the page holds no
//! data, and every API call it makes carries the user's token. With `ITSCAM_DASHBOARD_DIR`
//! set, the files are read from that directory at each request instead (edit the JS without
//! rebuilding); only the names of [`ASSETS`] are served either way.

use super::{ApiError, ErrorBody, ErrorKind};
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;

/// The environment variable naming a directory to serve the dashboard's files from.
pub const DASHBOARD_DIR_ENV: &str = "ITSCAM_DASHBOARD_DIR";

/// The page's Content-Security-Policy: its own scripts and styles only, images also from
/// `blob:` (evidence, frames) and `data:`.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

macro_rules! asset {
    ($name:literal, $type:literal) => {
        ($name, $type, include_bytes!(concat!("../../dashboard/", $name)) as &[u8])
    };
}

/// The embedded files: name, content type, content.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("ui.js", "text/javascript; charset=utf-8"),
    asset!("charts.js", "text/javascript; charset=utf-8"),
    asset!("login.js", "text/javascript; charset=utf-8"),
    asset!("cameras.js", "text/javascript; charset=utf-8"),
    asset!("live.js", "text/javascript; charset=utf-8"),
    asset!("traffic.js", "text/javascript; charset=utf-8"),
    asset!("alerts.js", "text/javascript; charset=utf-8"),
    asset!("rules.js", "text/javascript; charset=utf-8"),
    asset!("sql.js", "text/javascript; charset=utf-8"),
    asset!("system.js", "text/javascript; charset=utf-8"),
];

/// `name`'s content type and content: from [`DASHBOARD_DIR_ENV`] when set, else embedded.
fn file(name: &str) -> Option<(&'static str, Cow<'static, [u8]>)> {
    file_from(std::env::var_os(DASHBOARD_DIR_ENV).as_deref().map(std::path::Path::new), name)
}

/// `name`'s content type and content: from `dir` when given (a name of [`ASSETS`] only), else
/// embedded.
fn file_from(dir: Option<&std::path::Path>, name: &str) -> Option<(&'static str, Cow<'static, [u8]>)> {
    let (_, content_type, embedded) = ASSETS.iter().find(|(n, _, _)| *n == name)?;
    match dir {
        Some(dir) => std::fs::read(dir.join(name)).ok().map(|b| (*content_type, Cow::Owned(b))),
        None => Some((*content_type, Cow::Borrowed(*embedded))),
    }
}

/// The file as an answer: `ETag` from its content, `Cache-Control: no-cache` (revalidated at
/// each load, so a new binary's files are never stale), 304 when the client's copy is current.
fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some((content_type, body)) = file(name) else {
        return ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, format!("no dashboard file {name:?}")).into_response();
    };
    let etag = format!("\"{}\"", &crate::auth::secrets::sha256_hex(&body)[..32]);
    let fresh = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { ([(header::CONTENT_TYPE, content_type)], body.into_owned()).into_response() };
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("a hex ETag is a header value"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if name == "index.html" {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

/// `GET /`: the dashboard.
#[utoipa::path(get, path = "/", tag = "dashboard", responses(
    (status = 200, description = "The dashboard's page (with a Content-Security-Policy)", content_type = "text/html", body = String),
    (status = 304, description = "The client's copy (`If-None-Match`) is current"),
))]
pub(super) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /assets/{file}`: a script, the style sheet or the icon of the dashboard.
#[utoipa::path(get, path = "/assets/{file}", tag = "dashboard", params(("file" = String, Path, description = "The file's name (`app.js`, `app.css`, `icon.svg`, …)")), responses(
    (status = 200, description = "The file", content((String = "text/javascript"), (String = "text/css"), (String = "image/svg+xml"))),
    (status = 304, description = "The client's copy (`If-None-Match`) is current"),
    (status = 404, description = "`not_found`: no such file", body = ErrorBody),
))]
pub(super) async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    if file == "index.html" {
        return ApiError::new(StatusCode::NOT_FOUND, ErrorKind::NotFound, "the page is served at /").into_response();
    }
    serve(&file, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_names_is_embedded() {
        let page = std::str::from_utf8(ASSETS[0].2).unwrap();
        for (name, _, _) in &ASSETS[1..] {
            let imported = ASSETS.iter().any(|(_, _, c)| std::str::from_utf8(c).unwrap().contains(&format!("/assets/{name}")) || std::str::from_utf8(c).unwrap().contains(&format!("./{name}")));
            assert!(imported || page.contains(name), "{name} is embedded but nothing loads it");
        }
    }

    #[test]
    fn a_dashboard_dir_overrides_the_embedded_files_by_their_names_only() {
        let dir = std::env::temp_dir().join(format!("itscam-dashboard-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.js"), "export const edited = true;\n").unwrap();
        std::fs::write(dir.join("other.js"), "not listed").unwrap();
        let (content_type, body) = file_from(Some(&dir), "app.js").unwrap();
        assert_eq!((content_type, &body[..]), ("text/javascript; charset=utf-8", &b"export const edited = true;\n"[..]));
        assert!(file_from(Some(&dir), "app.css").is_none(), "a file missing from the directory is not served from the binary either");
        assert!(file_from(Some(&dir), "other.js").is_none() && file_from(Some(&dir), "../app.js").is_none(), "only the dashboard's own names");
        assert_eq!(file_from(None, "app.js").unwrap().1, ASSETS.iter().find(|a| a.0 == "app.js").unwrap().2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
