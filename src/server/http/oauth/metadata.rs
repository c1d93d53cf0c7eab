//! The two discovery documents: RFC 8414 authorization-server metadata (served by the built-in
//! server) and RFC 9728 protected-resource metadata (served at
//! `/.well-known/oauth-protected-resource[/mcp]` whenever OAuth is on, naming the built-in server
//! or the external issuer).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;

use super::{Inner, Settings};

/// RFC 8414 §2, with the members MCP clients read.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct AuthorizationServerMetadata {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    pub(crate) registration_endpoint: String,
    pub(crate) revocation_endpoint: String,
    pub(crate) response_types_supported: Vec<&'static str>,
    pub(crate) grant_types_supported: Vec<&'static str>,
    pub(crate) code_challenge_methods_supported: Vec<&'static str>,
    pub(crate) token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub(crate) revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub(crate) scopes_supported: Vec<String>,
    /// The 2025-11-25 MCP spec's Client ID Metadata Documents.
    pub(crate) client_id_metadata_document_supported: bool,
    /// RFC 9207: authorization responses carry `iss`.
    pub(crate) authorization_response_iss_parameter_supported: bool,
}

impl AuthorizationServerMetadata {
    pub(crate) fn new(settings: &Settings) -> AuthorizationServerMetadata {
        let base = &settings.public_url;
        AuthorizationServerMetadata {
            issuer: base.clone(),
            authorization_endpoint: format!("{base}/authorize"),
            token_endpoint: format!("{base}/token"),
            registration_endpoint: format!("{base}/register"),
            revocation_endpoint: format!("{base}/revoke"),
            response_types_supported: vec!["code"],
            grant_types_supported: vec!["authorization_code", "refresh_token"],
            code_challenge_methods_supported: vec!["S256"],
            token_endpoint_auth_methods_supported: vec!["none"],
            revocation_endpoint_auth_methods_supported: vec!["none"],
            scopes_supported: settings.scopes.clone(),
            client_id_metadata_document_supported: true,
            authorization_response_iss_parameter_supported: true,
        }
    }
}

/// RFC 9728 §2.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ProtectedResourceMetadata {
    pub(crate) resource: String,
    pub(crate) authorization_servers: Vec<String>,
    pub(crate) scopes_supported: Vec<String>,
    pub(crate) bearer_methods_supported: Vec<&'static str>,
    pub(crate) resource_name: &'static str,
}

impl ProtectedResourceMetadata {
    /// The document for a resource and its authorization server.
    pub(crate) fn new(
        resource: &str,
        issuer: &str,
        scopes: &[String],
    ) -> ProtectedResourceMetadata {
        ProtectedResourceMetadata {
            resource: resource.to_string(),
            authorization_servers: vec![issuer.to_string()],
            scopes_supported: scopes.to_vec(),
            bearer_methods_supported: vec!["header"],
            resource_name: "deepvault",
        }
    }

    /// The document naming the built-in server.
    pub(crate) fn builtin(settings: &Settings) -> ProtectedResourceMetadata {
        ProtectedResourceMetadata::new(&settings.resource, &settings.public_url, &settings.scopes)
    }
}

/// `GET /.well-known/oauth-authorization-server`.
pub(crate) async fn authorization_server(State(inner): State<Arc<Inner>>) -> impl IntoResponse {
    (
        // Browser-based MCP clients read the metadata cross-origin.
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        Json(AuthorizationServerMetadata::new(&inner.settings)),
    )
}
