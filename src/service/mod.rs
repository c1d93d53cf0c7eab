//! The service: what a request gets, whichever transport carried it.
//!
//! # Layout
//!
//! - [`tools`]: `search` and `fetch` as typed responses, the one thing the CLI, MCP and the pages
//!   call.
//! - [`citations`]: the citation `url` of every hit and note, with signed links to note pages.
//! - [`redact`]: the way out: every string of every response redacted ([`redact::Redacted`]).
//! - [`audit`]: one JSON line per tool call.
//! - [`client`]: who a request comes from, for the audit log and the rate limiter.
//! - [`oauth`]: the built-in authorization server's state: clients, grants, token digests and
//!   the owner's passphrase hash (its endpoints are in `server::http::oauth`).
//!
//! The service reads the index and the live status; it knows nothing of HTTP or stdio.

pub(crate) mod audit;
pub mod citations;
pub(crate) mod client;
pub(crate) mod oauth;
pub mod redact;
pub mod tools;
