//! What the owner's browser sees: the consent page, the error pages, and the redirects back to
//! the client.
//!
//! The consent page names the client and the host it returns to, says what it may read (every
//! note, read-only) and takes the owner's passphrase in an ordinary form field named
//! `passphrase`, with the CSRF token in a hidden field.
//!
//! Headers on every page: no framing (`X-Frame-Options: DENY` and `frame-ancestors 'none'`), a
//! CSP with no script at all, `Cache-Control: no-store`, and `Referrer-Policy: same-origin`
//! (`no-referrer` would make Chromium send `Origin: null` with the form, which the Host/Origin
//! guard rightly refuses). The CSP's `form-action` names `'self'` **and the client's redirect
//! origin**: Chromium applies `form-action` to the redirect that follows a form submission, so
//! `'self'` alone blocks the 303 to the client (tests/browser checks it).

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::server::http::html::escape;
use crate::service::oauth::{ClientKind, redirect_host};

/// What the consent page shows about a pending request.
pub(crate) struct ConsentView<'a> {
    pub(crate) client_name: &'a str,
    pub(crate) kind: ClientKind,
    pub(crate) redirect_uri: &'a str,
    pub(crate) scopes: &'a [String],
}

fn strict_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f4f5;color:#18181b}\
main{max-width:34rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:12px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.35rem;margin-top:0}.host{font-family:ui-monospace,monospace;background:#f4f4f5;padding:.1rem .35rem;border-radius:4px;overflow-wrap:anywhere}\
.note{color:#52525b;font-size:.9rem}.error{background:#fef2f2;color:#991b1b;padding:.6rem .8rem;border-radius:6px}\
label{display:block;font-weight:600;margin:1rem 0 .3rem}input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #a1a1aa;border-radius:6px}\
.buttons{display:flex;gap:.75rem;margin-top:1.25rem}button{padding:.55rem 1.2rem;font-size:1rem;border-radius:6px;border:1px solid #a1a1aa;background:#fff;cursor:pointer}\
button.allow{background:#18181b;color:#fff;border-color:#18181b}\
@media (max-width:36rem){main{margin:0;border-radius:0;box-shadow:none}}";

/// An error page: used whenever the client or its redirect URI cannot be trusted, so the answer
/// must not go back to it.
pub(crate) fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{title}</title>\
<style>{STYLE}</style></head><body><main><h1>{title}</h1><p>{detail}</p>\
<p class=\"note\">Nothing was shared. Go back to the app and connect again.</p></main></body></html>",
        title = escape(title),
        detail = escape(detail)
    );
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    strict_headers(headers);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    response
}

/// `scheme://host[:port]` of a validated redirect URI, for the CSP.
fn origin(uri: &str) -> Option<String> {
    let parsed: Uri = uri.parse().ok()?;
    Some(format!(
        "{}://{}",
        parsed.scheme_str()?,
        parsed.authority()?.as_str()
    ))
}

/// The consent page with a fresh CSRF token, and an error line when the last attempt failed.
pub(crate) fn consent_page(
    view: &ConsentView<'_>,
    csrf: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let name = escape(view.client_name);
    let host = escape(&redirect_host(view.redirect_uri));
    let provenance = match view.kind {
        ClientKind::Dcr => {
            "The app chose its own name when it registered, so check the address it returns to."
        }
        ClientKind::Cimd => "The app's name comes from the metadata document at its client id.",
    };
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let scopes = escape(&view.scopes.join(" "));
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>Allow {name} to read your vault?</title><style>{STYLE}</style></head><body><main>\
<h1>Allow <strong>{name}</strong> to read your vault?</h1>\
<p>After you approve, it returns to <span class=\"host\">{host}</span>.</p>\
<p>{name} will be able to <strong>search and read every note</strong> in the vault this server \
publishes. Access is <strong>read-only</strong>: it cannot change, add or delete anything.</p>\
<p class=\"note\">{provenance} Permission: <code>{scopes}</code>. It lasts until you revoke it \
with <code>deepvault auth revoke</code>.</p>{error}\
<form method=\"post\" action=\"authorize\" autocomplete=\"off\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<label for=\"passphrase\">Owner passphrase</label>\
<input id=\"passphrase\" type=\"password\" name=\"passphrase\" autocomplete=\"current-password\" required autofocus>\
<div class=\"buttons\"><button class=\"allow\" type=\"submit\" name=\"action\" value=\"approve\">Allow</button>\
<button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>Deny</button></div>\
</form></main></body></html>",
        csrf = escape(csrf),
    );
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    strict_headers(headers);
    let redirect_origin = origin(view.redirect_uri).unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {redirect_origin}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// Query components are percent-encoded except for RFC 3986's unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A 303 to the client's redirect URI with the given parameters, its `state`, and `iss`
/// (RFC 9207: the 2026-07-28 MCP spec has clients check it against the metadata's issuer).
pub(crate) fn redirect(
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> Response {
    let mut location = redirect_uri.to_string();
    let mut separator = if location.contains('?') { '&' } else { '?' };
    for (key, value) in params
        .iter()
        .copied()
        .chain(state.map(|s| ("state", s)))
        .chain([("iss", issuer)])
    {
        location.push(separator);
        location.push_str(key);
        location.push('=');
        location.extend(utf8_percent_encode(value, QUERY));
        separator = '&';
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    strict_headers(headers);
    // Nothing of this server's URL goes to the client's site.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            headers.insert(header::LOCATION, value);
            response
        }
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            "Cannot return to the app",
            "The redirect address cannot be used.",
        ),
    }
}

/// An error that goes back to a trusted redirect URI (RFC 6749 §4.1.2.1).
pub(crate) fn redirect_error(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    error: &str,
    description: &str,
) -> Response {
    redirect(
        redirect_uri,
        &[("error", error), ("error_description", description)],
        state,
        issuer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_encode_and_append() {
        let response = redirect(
            "https://app.example/cb?x=1",
            &[("code", "a b&c")],
            Some("s/t"),
            "https://vault.example",
        );
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[header::LOCATION],
            "https://app.example/cb?x=1&code=a%20b%26c&state=s%2Ft&iss=https%3A%2F%2Fvault.example"
        );
    }

    #[test]
    fn consent_page_escapes_the_client_and_allows_its_origin() {
        let scopes = vec!["vault:read".to_string()];
        let response = consent_page(
            &ConsentView {
                client_name: "<script>alert(1)</script>",
                kind: ClientKind::Dcr,
                redirect_uri: "https://chatgpt.com/connector_platform_oauth_redirect",
                scopes: &scopes,
            },
            "tok\"en",
            None,
            StatusCode::OK,
        );
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("form-action 'self' https://chatgpt.com;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }
}
