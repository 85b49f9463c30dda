//! Where webhooks may go. A deployment lists the destinations it allows (host names, `*.`
//! suffixes and CIDR blocks); a URL is registered only when its host is on the list, and every
//! connection is checked again against the addresses the host resolves to when it is made, so
//! a name that later resolves inside the cluster (DNS rebinding) reaches nothing there.
//! Loopback, private, link-local and other internal addresses are reached only through a CIDR
//! block that names them.

use std::{
    fmt,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use hyper_util::client::legacy::connect::dns::Name;

/// A block of addresses, e.g. `10.20.0.0/16` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text}: not an IP address or CIDR block"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text}: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is checked as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is an address of the public internet: not loopback, private, shared (CGNAT),
/// link-local, unique-local, multicast, documentation or unspecified. Cluster pod and service
/// ranges are private ranges.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

/// One allowed destination host: a name, or every name under a suffix (`*.gov.cn`).
#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// The suffix with its leading dot, e.g. `.gov.cn`.
    Under(String),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => host == name,
            Self::Under(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }
}

/// The deployment's webhook destinations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookPolicy {
    hosts: Vec<HostPattern>,
    cidrs: Vec<Cidr>,
}

/// Why a destination is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("must be an http:// or https:// URL with a host, at most 2,000 characters")]
    Malformed,
    #[error("no webhook destinations are allowed in this deployment")]
    NothingAllowed,
    #[error("the host {0} is not on this deployment's list of webhook destinations")]
    NotAllowed(String),
}

impl WebhookPolicy {
    /// Parses a comma-separated list: host names (`hotline.example.gov.cn`), suffixes
    /// (`*.gov.cn`) and IP addresses or CIDR blocks (`10.20.0.0/16`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut policy = Self::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let entry = entry.to_ascii_lowercase();
            if let Some(suffix) = entry.strip_prefix("*.") {
                if !is_host_name(suffix) {
                    return Err(format!("{entry}: not a host name suffix"));
                }
                policy.hosts.push(HostPattern::Under(format!(".{suffix}")));
            } else if entry.contains('/') || entry.parse::<IpAddr>().is_ok() {
                policy.cidrs.push(Cidr::parse(&entry)?);
            } else if is_host_name(&entry) {
                policy.hosts.push(HostPattern::Exact(entry));
            } else {
                return Err(format!(
                    "{entry}: neither a host name, a *.suffix nor a CIDR block"
                ));
            }
        }
        Ok(policy)
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.cidrs.is_empty()
    }

    /// Whether a host name (not an address) is on the list.
    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.iter().any(|pattern| pattern.matches(&host))
    }

    /// Whether a connection to `ip` may be made, for a host that is (`listed_host`) or is not
    /// on the list by name: an address inside a listed block always; otherwise a public
    /// address of a listed host.
    pub fn allows_address(&self, listed_host: bool, ip: IpAddr) -> bool {
        self.cidrs.iter().any(|cidr| cidr.contains(ip)) || (listed_host && is_public(ip))
    }

    /// The URL a webhook is registered with, if this deployment lets it go there.
    pub fn check_url(&self, url: &str) -> Result<http::Uri, Refusal> {
        let uri: http::Uri = url.parse().map_err(|_| Refusal::Malformed)?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
            return Err(Refusal::Malformed);
        };
        if url.len() > 2000 || !scheme_ok {
            return Err(Refusal::Malformed);
        }
        if self.is_empty() {
            return Err(Refusal::NothingAllowed);
        }
        let allowed = match literal_address(host) {
            Some(ip) => self.allows_address(false, ip),
            None => self.allows_host(host),
        };
        if allowed {
            Ok(uri)
        } else {
            Err(Refusal::NotAllowed(host.to_owned()))
        }
    }
}

/// The address a URL's host spells out, if it is one (`[::1]` included).
pub fn literal_address(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Resolves webhook hosts for the HTTP client, keeping only the addresses the policy allows for
/// that host: the check made at connect time, after DNS has answered.
#[derive(Clone, Debug)]
pub struct PolicyResolver {
    policy: Arc<WebhookPolicy>,
}

impl PolicyResolver {
    pub fn new(policy: Arc<WebhookPolicy>) -> Self {
        Self { policy }
    }
}

type Resolving = Pin<Box<dyn Future<Output = io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower_service::Service<Name> for PolicyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let listed = policy.allows_host(&host);
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| policy.allows_address(listed, addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{host} resolves to no address the webhook policy allows"),
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn blocks_contain_their_addresses_only() {
        let block = Cidr::parse("10.20.0.0/16").expect("cidr");
        assert!(block.contains(ip("10.20.255.1")));
        assert!(
            block.contains(ip("::ffff:10.20.0.9")),
            "IPv4 written as IPv6"
        );
        assert!(!block.contains(ip("10.21.0.1")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
        assert!(
            Cidr::parse("127.0.0.1")
                .expect("one")
                .contains(ip("127.0.0.1"))
        );
        assert!(Cidr::parse("fd00::/8").expect("v6").contains(ip("fd12::1")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("ten/8").is_err());
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(ip(internal)), "{internal}");
        }
        for public in ["8.8.8.8", "202.96.209.133", "2400:3200::1"] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn urls_go_only_where_the_list_allows() {
        let policy = WebhookPolicy::parse("hotline.example.gov.cn, *.sh.gov.cn, 10.20.0.0/16")
            .expect("list");
        assert!(
            policy
                .check_url("https://hotline.example.gov.cn/hook")
                .is_ok()
        );
        assert!(policy.check_url("https://a.b.sh.gov.cn/hook").is_ok());
        assert!(policy.check_url("http://10.20.3.4:8080/hook").is_ok());
        assert_eq!(
            policy.check_url("http://sh.gov.cn/hook"),
            Err(Refusal::NotAllowed("sh.gov.cn".into())),
            "a suffix is not the name itself"
        );
        for refused in [
            "http://127.0.0.1:5432/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://kubernetes.default.svc/",
        ] {
            assert!(
                matches!(policy.check_url(refused), Err(Refusal::NotAllowed(_))),
                "{refused}"
            );
        }
        for malformed in [
            "ftp://hotline.example.gov.cn/",
            "hotline.example.gov.cn",
            "http:///x",
        ] {
            assert_eq!(
                policy.check_url(malformed),
                Err(Refusal::Malformed),
                "{malformed}"
            );
        }
        assert_eq!(
            WebhookPolicy::default().check_url("https://hotline.example.gov.cn/"),
            Err(Refusal::NothingAllowed)
        );
        assert!(WebhookPolicy::parse("not a host").is_err());
        assert!(WebhookPolicy::parse("*.").is_err());
    }

    #[test]
    fn a_listed_name_reaches_only_public_addresses_unless_a_block_names_them() {
        let policy = WebhookPolicy::parse("*.gov.cn, 10.20.0.0/16").expect("list");
        assert!(policy.allows_address(true, ip("202.96.209.133")));
        assert!(
            !policy.allows_address(true, ip("10.96.0.1")),
            "a listed name rebound into the cluster"
        );
        assert!(policy.allows_address(true, ip("10.20.0.5")));
        assert!(!policy.allows_address(false, ip("202.96.209.133")));
    }
}
