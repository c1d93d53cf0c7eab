//! Client ID Metadata Documents (MCP 2025-11-25; draft-ietf-oauth-client-id-metadata-document):
//! a `client_id` that is an https URL names a JSON document, published by the client, that
//! lists its name and redirect URIs. Fetching it means an unauthenticated caller makes this
//! server send a request, so the fetch is fenced in:
//!
//! - https only, to a URL with a path, no user info, no fragment, no dot segments;
//! - the host is resolved first and **every** address must be public (no loopback, private,
//!   link-local, CGNAT, multicast, documentation or IPv4-mapped/NAT64 forms of them); the
//!   connection then goes to those checked addresses, so a second DNS answer cannot swap in an
//!   internal one (DNS rebinding), and no proxy from the environment is used;
//! - no redirects, a 5 s overall timeout, and at most [`MAX_BYTES`] of body: 5 KiB. A
//!   document with a name, a handful of redirect URIs and a logo URL is well under 2 KiB, so
//!   5 KiB leaves room while keeping each fetch's memory and time trivial;
//! - at most [`CONCURRENT_FETCHES`] fetches at once, and results are cached for five minutes
//!   (failures for one), so repeated `/authorize` requests do not turn into repeated fetches.
//!
//! The document's `client_id` must equal the URL exactly, it must not carry a secret, and its
//! redirect URIs obey the same rules as registered ones.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Uri;
use serde::Deserialize;
use tokio::sync::Semaphore;

use super::register::{ClientInfo, check_redirect_uri, clean_name, quote};
use crate::service::oauth::ClientKind;

/// The largest document accepted.
pub(crate) const MAX_BYTES: usize = 5 * 1024;
/// Resolution and fetch together.
const TIMEOUT: Duration = Duration::from_secs(5);
const CONCURRENT_FETCHES: usize = 4;
const CACHE_OK_SECS: u64 = 300;
const CACHE_ERR_SECS: u64 = 60;
const CACHE_ENTRIES: usize = 256;

/// Name resolution, replaceable in tests.
pub(crate) trait Resolve: Send + Sync {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// An HTTPS GET that connects only to the given, already checked, addresses.
pub(crate) trait FetchDocument: Send + Sync {
    fn fetch(
        &self,
        url: &str,
        addrs: &[SocketAddr],
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, String>;
}

/// The network CIMD uses: the system resolver and ureq, unless a test says otherwise.
#[derive(Clone)]
pub(crate) struct CimdNetwork {
    pub(crate) resolver: Arc<dyn Resolve>,
    pub(crate) fetcher: Arc<dyn FetchDocument>,
}

impl Default for CimdNetwork {
    fn default() -> CimdNetwork {
        CimdNetwork {
            resolver: Arc::new(SystemResolver),
            fetcher: Arc::new(PinnedFetcher),
        }
    }
}

struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

/// ureq with a resolver that hands back the checked addresses and nothing else.
struct PinnedFetcher;

#[derive(Debug)]
struct Pinned(Vec<SocketAddr>);

impl ureq::unversioned::resolver::Resolver for Pinned {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut out = self.empty();
        for addr in self.0.iter().take(16) {
            out.push(*addr);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

impl FetchDocument for PinnedFetcher {
    fn fetch(
        &self,
        url: &str,
        addrs: &[SocketAddr],
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        let config = ureq::Agent::config_builder()
            .https_only(true)
            .max_redirects(0)
            .proxy(None)
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent("deepvault-cimd/1")
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            Pinned(addrs.to_vec()),
        );
        let mut response = agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| format!("cannot fetch it: {e}"))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            return Err(format!("it answered {status} (redirects are not followed)"));
        }
        if status != 200 {
            return Err(format!("it answered {status}"));
        }
        response
            .body_mut()
            .with_config()
            .limit(max_bytes as u64)
            .read_to_vec()
            .map_err(|e| format!("cannot read it (at most {max_bytes} bytes): {e}"))
    }
}

/// The document's members that matter here; others are ignored.
#[derive(Debug, Deserialize)]
struct MetadataDocument {
    client_id: String,
    client_name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    client_secret: Option<serde::de::IgnoredAny>,
}

/// A cached outcome: when it expires, and the client or why it was refused.
type Cached = (u64, Result<ClientInfo, String>);

pub(crate) struct Cimd {
    net: CimdNetwork,
    /// By document URL.
    cache: Mutex<HashMap<String, Cached>>,
    slots: Semaphore,
}

impl Cimd {
    pub(crate) fn new(net: CimdNetwork) -> Cimd {
        Cimd {
            net,
            cache: Mutex::new(HashMap::new()),
            slots: Semaphore::new(CONCURRENT_FETCHES),
        }
    }

    /// The client a metadata document URL names, fetched or from the cache.
    pub(crate) async fn client(&self, url: &str, now: u64) -> Result<ClientInfo, String> {
        if let Some((expires, result)) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(url)
            && *expires > now
        {
            return result.clone();
        }
        let result = self.fetch(url).await.map_err(|reason| {
            format!(
                "the client's metadata document {} was refused: {reason}",
                quote(url)
            )
        });
        let ttl = if result.is_ok() {
            CACHE_OK_SECS
        } else {
            CACHE_ERR_SECS
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (expires, _)| *expires > now);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(url.to_string(), (now + ttl, result.clone()));
        result
    }

    async fn fetch(&self, url: &str) -> Result<ClientInfo, String> {
        let (host, port) = check_url(url)?;
        let _slot = tokio::time::timeout(TIMEOUT, self.slots.acquire())
            .await
            .map_err(|_| "too many metadata documents are being fetched".to_string())?
            .map_err(|e| e.to_string())?;
        let net = self.net.clone();
        let owned_url = url.to_string();
        let task = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
            let addrs = match host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Ok(ip) => vec![SocketAddr::new(ip, port)],
                Err(_) => net
                    .resolver
                    .resolve(&host, port)
                    .map_err(|e| format!("cannot resolve {host}: {e}"))?,
            };
            if addrs.is_empty() {
                return Err(format!("{host} has no address"));
            }
            if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(format!(
                    "{host} resolves to {}, which is not a public address",
                    bad.ip()
                ));
            }
            net.fetcher.fetch(&owned_url, &addrs, MAX_BYTES, TIMEOUT)
        });
        let body = tokio::time::timeout(TIMEOUT + Duration::from_secs(1), task)
            .await
            .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
            .map_err(|e| e.to_string())??;
        if body.len() > MAX_BYTES {
            return Err(format!("it is larger than {MAX_BYTES} bytes"));
        }
        let doc: MetadataDocument =
            serde_json::from_slice(&body).map_err(|e| format!("it is not client metadata: {e}"))?;
        if doc.client_id != url {
            return Err(format!(
                "its client_id {} is not the URL it was fetched from",
                quote(&doc.client_id)
            ));
        }
        if doc.client_secret.is_some() {
            return Err("it contains a client_secret".into());
        }
        match doc.token_endpoint_auth_method.as_deref() {
            None | Some("none") => {}
            Some(other) => {
                return Err(format!(
                    "token_endpoint_auth_method {} is not supported (only none)",
                    quote(other)
                ));
            }
        }
        let redirect_uris = doc.redirect_uris.unwrap_or_default();
        if redirect_uris.is_empty() {
            return Err("it lists no redirect_uris".into());
        }
        for uri in &redirect_uris {
            check_redirect_uri(uri)?;
        }
        Ok(ClientInfo {
            client_id: doc.client_id,
            client_name: clean_name(doc.client_name.as_deref()),
            redirect_uris,
            kind: ClientKind::Cimd,
        })
    }
}

/// The host and port of an acceptable metadata document URL.
fn check_url(url: &str) -> Result<(String, u16), String> {
    if url.len() > 2000 {
        return Err("the URL is longer than 2000 bytes".into());
    }
    if url.contains('#') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the URL has a fragment or white space".into());
    }
    let uri: Uri = url.parse().map_err(|_| "it is not a URL".to_string())?;
    if uri.scheme_str() != Some("https") {
        return Err("it is not https".into());
    }
    let authority = uri.authority().ok_or("it has no host")?;
    if authority.as_str().contains('@') {
        return Err("it contains user info".into());
    }
    let path = uri.path();
    if path.is_empty() || path == "/" {
        return Err("it has no path".into());
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("its path has dot segments".into());
    }
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() {
        return Err("it has no host".into());
    }
    Ok((host, authority.port_u16().unwrap_or(443)))
}

/// True for addresses on the public internet; false for anything that reaches this machine,
/// its networks, or special-purpose ranges.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed an IPv4 address that the path may reach.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] == 0) // Teredo
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard-only
        || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible and other ::/96 forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700::1111",
            "64:ff9b::101:101",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            check_url("https://app.example/oauth/client.json"),
            Ok(("app.example".into(), 443))
        );
        assert_eq!(
            check_url("https://app.example:8443/c"),
            Ok(("app.example".into(), 8443))
        );
        for bad in [
            "http://app.example/c.json",
            "https://app.example",
            "https://app.example/",
            "https://u:p@app.example/c",
            "https://app.example/a/../c",
            "https://app.example/c#x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
