//! Who a request comes from, as the audit log and the rate limiter see it.
//!
//! The HTTP auth middleware puts a [`ClientId`] into each request; the MCP handler reads it back.
//! It lives here, below both, so neither depends on the other for it.

/// Who made a request: a token's label, a JWT subject, or `anonymous`. Never a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientId(pub String);
