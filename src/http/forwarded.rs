//! The client's address behind trusted reverse proxies: `X-Forwarded-For` and `Forwarded`
//! (RFC 7239), read only from configured proxies.

use std::net::IpAddr;

use crate::config::{AuthConfig, ForwardedHeader, IpNet};

/// At most this many hops, counted from the right, are examined; a longer chain is cut there.
const MAX_HOPS: usize = 32;

/// The client's address, for rate limiting.
///
/// `peer` is the TCP peer; `forwarded` is every value of the configured
/// [`forwarded_header`](AuthConfig::forwarded_header), in the order they arrived (each may
/// hold a comma-separated list; `&str`, `&[u8]` and `&HeaderValue` items all work).
///
/// * If the peer is not in [`trusted_proxies`](AuthConfig::trusted_proxies) (by default
///   nothing is), the client is the peer and the header is ignored: anybody can send one.
/// * Otherwise the hop list (all values joined in order) is walked from the right, the end
///   written by the proxy nearest to us. Hops that are trusted proxies are passed; the client
///   is the first hop that is not one. If every hop is trusted, it is the leftmost.
/// * A hop that is not an address (`unknown`, an obfuscated `_name`, garbage, a missing `for=`)
///   ends the walk: the client is then the nearest address already accepted, a trusted proxy
///   (or the peer), never anything read beyond it. Empty list elements are skipped.
/// * Only the rightmost 32 hops are examined (in a longer all-trusted chain the 32nd counts as
///   the leftmost); the work is one pass over the header bytes, without allocation.
///
/// IPv4-mapped IPv6 addresses are compared and returned as IPv4. `None` only when the peer is
/// unknown. Count the result with [`client_bucket`](crate::rate_limit::client_bucket).
///
/// `X-Forwarded-For` entries may carry a port or brackets (`192.0.2.60:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`); `Forwarded` elements are read for their `for=` parameter, quoted or
/// not (`for=192.0.2.60`, `for="[2001:db8::1]:4711"`).
///
/// ```
/// use std::net::IpAddr;
/// use assimetria_auth::AuthConfig;
/// use assimetria_auth::http::client_address;
///
/// let config = AuthConfig::builder()
///     .trusted_proxies(vec!["10.0.0.0/8".parse().unwrap()])
///     .build()
///     .unwrap();
/// let ip = |s: &str| s.parse::<IpAddr>().unwrap();
/// // Through our proxy: the address it saw.
/// let header = ["198.51.100.1, 203.0.113.9"];
/// assert_eq!(client_address(Some(ip("10.0.0.2")), header, &config), Some(ip("203.0.113.9")));
/// // Straight from the internet: the header is the client's own claim, ignored.
/// assert_eq!(client_address(Some(ip("203.0.113.9")), header, &config), Some(ip("203.0.113.9")));
/// ```
pub fn client_address<'a, V>(
    peer: Option<IpAddr>,
    forwarded: impl IntoIterator<Item = &'a V>,
    config: &AuthConfig,
) -> Option<IpAddr>
where
    V: AsRef<[u8]> + ?Sized + 'a,
{
    let peer = peer?.to_canonical();
    let trusted = |ip: IpAddr| config.trusted_proxies.iter().any(|net| contains(net, ip));
    if !trusted(peer) {
        return Some(peer);
    }
    let header = config.forwarded_header;
    let mut hops = LastHops::default();
    for value in forwarded {
        let quotes = header == ForwardedHeader::Forwarded;
        for element in Split::new(value.as_ref(), b',', quotes) {
            let element = element.trim_ascii();
            if !element.is_empty() {
                hops.push(element);
            }
        }
    }
    let mut client = peer;
    for hop in hops.iter_from_right() {
        let parsed = match header {
            ForwardedHeader::XForwardedFor => parse_node(hop),
            ForwardedHeader::Forwarded => forwarded_for(hop).and_then(parse_node),
        };
        let Some(ip) = parsed else { break };
        client = ip.to_canonical();
        if !trusted(client) {
            break;
        }
    }
    Some(client)
}

fn contains(net: &IpNet, ip: IpAddr) -> bool {
    net.contains(&ip)
        || match (net, ip) {
            // A network written as IPv4-mapped IPv6 still matches the IPv4 address.
            (IpNet::V6(v6), IpAddr::V4(v4)) => v6.contains(&v4.to_ipv6_mapped()),
            _ => false,
        }
}

/// The last [`MAX_HOPS`] elements pushed, without allocating.
#[derive(Default)]
struct LastHops<'a> {
    ring: [&'a [u8]; MAX_HOPS],
    pushed: usize,
}

impl<'a> LastHops<'a> {
    fn push(&mut self, element: &'a [u8]) {
        self.ring[self.pushed % MAX_HOPS] = element;
        self.pushed += 1;
    }

    fn iter_from_right(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.pushed.min(MAX_HOPS))
            .map(move |back| self.ring[(self.pushed - 1 - back) % MAX_HOPS])
    }
}

/// The `sep`-separated parts of `bytes`; with `quotes`, a `sep` inside a quoted-string
/// (`"…"` with `\` escapes, RFC 9110) does not separate. An unclosed quote runs to the end.
struct Split<'a> {
    rest: Option<&'a [u8]>,
    sep: u8,
    quotes: bool,
}

impl<'a> Split<'a> {
    fn new(bytes: &'a [u8], sep: u8, quotes: bool) -> Self {
        Self {
            rest: Some(bytes),
            sep,
            quotes,
        }
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let mut in_quotes = false;
        let mut escaped = false;
        for (i, &b) in rest.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if in_quotes && b == b'\\' {
                escaped = true;
            } else if self.quotes && b == b'"' {
                in_quotes = !in_quotes;
            } else if b == self.sep && !in_quotes {
                self.rest = Some(&rest[i + 1..]);
                return Some(&rest[..i]);
            }
        }
        self.rest = None;
        Some(rest)
    }
}

/// The value of the `for` parameter of one `Forwarded` element (`for=a;proto=https;by=b`),
/// unquoted. `None` unless every parameter is `name=value` with a whole value (a token, or a
/// quoted-string closed at its end) and `for` appears exactly once: a quote a client left open
/// swallows what the proxies appended after it, and must not leave a `for` of its own choosing.
fn forwarded_for(element: &[u8]) -> Option<&[u8]> {
    let mut found = None;
    for pair in Split::new(element, b';', true) {
        if pair.trim_ascii().is_empty() {
            continue; // `for=a;;proto=https`: empty pairs are allowed
        }
        let (name, value) = split_once(pair, b'=')?;
        let (name, value) = (name.trim_ascii(), value.trim_ascii());
        if name.is_empty() || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-') {
            return None;
        }
        let value = unquote(value)?;
        if name.eq_ignore_ascii_case(b"for") && found.replace(value).is_some() {
            return None; // two `for` parameters: ambiguous
        }
    }
    // A node never needs an escape: a `for` holding a backslash is not one.
    found.filter(|value| !value.contains(&b'\\'))
}

fn split_once(bytes: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == sep)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// A token as it is (visible ASCII without quotes, backslashes or separators; brackets and
/// colons are let through, as some proxies leave nodes unquoted); a quoted-string, closed at its
/// end and nowhere before, without its quotes (escapes left in). Anything else, an unclosed
/// quote included, is `None`.
fn unquote(value: &[u8]) -> Option<&[u8]> {
    let Some(quoted) = value.strip_prefix(b"\"") else {
        let token = !value.is_empty()
            && value
                .iter()
                .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b',' | b';'));
        return token.then_some(value);
    };
    let mut escaped = false;
    for (i, &b) in quoted.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            return (i + 1 == quoted.len()).then_some(&quoted[..i]);
        }
    }
    None
}

/// One node: `192.0.2.60`, `192.0.2.60:4711`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`. Anything else (`unknown`, `_hidden`, a host name) is `None`.
fn parse_node(node: &[u8]) -> Option<IpAddr> {
    let node = std::str::from_utf8(node).ok()?;
    if let Some(bracketed) = node.strip_prefix('[') {
        let (v6, after) = bracketed.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    let (v4, port) = node.split_once(':')?;
    if !is_port(port) {
        return None;
    }
    v4.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A port number, or RFC 7239's obfuscated port (`_` then letters, digits, `.`, `_`, `-`).
fn is_port(port: &str) -> bool {
    match port.strip_prefix('_') {
        Some(obfuscated) => {
            !obfuscated.is_empty()
                && obfuscated
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
        None => !port.is_empty() && port.len() <= 5 && port.parse::<u16>().is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn config(trusted: &[&str], header: ForwardedHeader) -> AuthConfig {
        AuthConfig::builder()
            .trusted_proxies(trusted.iter().map(|n| n.parse().unwrap()).collect())
            .forwarded_header(header)
            .build()
            .unwrap()
    }

    fn xff(trusted: &[&str]) -> AuthConfig {
        config(trusted, ForwardedHeader::XForwardedFor)
    }

    fn walk(peer: &str, values: &[&str], config: &AuthConfig) -> IpAddr {
        client_address(Some(ip(peer)), values.iter().copied(), config).unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let spoofed = ["1.2.3.4", "5.6.7.8, 9.9.9.9"];
        assert_eq!(
            walk("203.0.113.7", &spoofed, &AuthConfig::default()),
            ip("203.0.113.7")
        );
        let c = xff(&["10.0.0.0/8"]);
        assert_eq!(walk("203.0.113.7", &spoofed, &c), ip("203.0.113.7"));
        let forwarded = config(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        assert_eq!(
            walk("203.0.113.7", &["for=1.2.3.4"], &forwarded),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address::<str>(None, ["1.2.3.4"], &c),
            None,
            "an unknown peer"
        );
    }

    #[test]
    fn a_trusted_peer_names_the_rightmost_untrusted_hop() {
        let c = xff(&["10.0.0.0/8"]);
        // The client put "1.1.1.1" in front; the proxy appended what it saw.
        assert_eq!(
            walk("10.0.0.1", &["1.1.1.1, 203.0.113.9"], &c),
            ip("203.0.113.9")
        );
        assert_eq!(walk("10.0.0.1", &["203.0.113.9"], &c), ip("203.0.113.9"));
        // No header: the proxy itself.
        assert_eq!(walk("10.0.0.1", &[], &c), ip("10.0.0.1"));
        assert_eq!(walk("10.0.0.1", &[""], &c), ip("10.0.0.1"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_passed() {
        let c = xff(&["10.0.0.0/8", "192.168.1.1/32", "2001:db8:ffff::/48"]);
        assert_eq!(
            walk(
                "10.0.0.1",
                &["6.6.6.6, 203.0.113.9, 192.168.1.1, 2001:db8:ffff::2, 10.1.2.3"],
                &c
            ),
            ip("203.0.113.9")
        );
        // An untrusted address in the middle stops the walk there, even if a trusted one
        // stands further left.
        assert_eq!(
            walk("10.0.0.1", &["10.9.9.9, 198.51.100.1, 10.0.0.5"], &c),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn an_all_trusted_chain_names_the_leftmost_hop() {
        let c = xff(&["10.0.0.0/8"]);
        assert_eq!(
            walk("10.0.0.1", &["10.0.0.7, 10.0.0.8, 10.0.0.9"], &c),
            ip("10.0.0.7")
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_address() {
        let c = xff(&["10.0.0.0/8"]);
        for garbage in [
            "unknown",
            "_hidden",
            "example.com",
            "1.2.3.4.5",
            "1.2.3.4:99999",
            "1.2.3.4:",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[1.2.3.4]",
            "2001:db8::1:80:",
            "\"1.2.3.4\"",
            "1.2.3.4 5.6.7.8",
            "\u{0}",
            "ı.2.3.4",
        ] {
            // Right behind the peer: the peer.
            assert_eq!(
                walk("10.0.0.1", &[&format!("6.6.6.6, {garbage}")], &c),
                ip("10.0.0.1"),
                "{garbage:?}"
            );
            // Behind a trusted hop: that hop, never the spoofable address to the left.
            assert_eq!(
                walk("10.0.0.1", &[&format!("6.6.6.6, {garbage}, 10.0.0.2")], &c),
                ip("10.0.0.2"),
                "{garbage:?}"
            );
        }
        // Garbage left of the client does not matter.
        assert_eq!(
            walk("10.0.0.1", &["unknown, 203.0.113.9"], &c),
            ip("203.0.113.9")
        );
        // Bytes that are not UTF-8 are garbage too.
        let bytes: [&[u8]; 2] = [b"6.6.6.6, \xff\xfe", b"10.0.0.2"];
        assert_eq!(
            client_address(Some(ip("10.0.0.1")), bytes, &c),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn empty_elements_are_skipped() {
        let c = xff(&["10.0.0.0/8"]);
        assert_eq!(
            walk("10.0.0.1", &[" , 203.0.113.9 ,, 10.0.0.2, "], &c),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn ports_and_brackets() {
        let c = xff(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        for (hop, want) in [
            ("203.0.113.9:4711", "203.0.113.9"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
            ("[::ffff:203.0.113.9]:80", "203.0.113.9"),
        ] {
            assert_eq!(walk("10.0.0.1", &[hop], &c), ip(want), "{hop}");
        }
        // A trusted IPv6 proxy, its peer seen as IPv4-mapped, ports on every hop.
        assert_eq!(
            walk(
                "2001:db8:ffff::1",
                &["[2001:db8::1]:1234, [2001:db8:ffff::2]:443"],
                &c
            ),
            ip("2001:db8::1")
        );
        assert_eq!(
            walk("::ffff:10.0.0.1", &["203.0.113.9"], &c),
            ip("203.0.113.9")
        );
        let mapped = xff(&["::ffff:10.0.0.0/104"]);
        assert_eq!(
            walk("10.0.0.1", &["203.0.113.9"], &mapped),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_header() {
        let c = config(
            &["10.0.0.0/8", "2001:db8:ffff::/48"],
            ForwardedHeader::Forwarded,
        );
        assert_eq!(
            walk(
                "10.0.0.1",
                &["for=192.0.2.60;proto=http;by=203.0.113.43"],
                &c
            ),
            ip("192.0.2.60")
        );
        assert_eq!(
            walk(
                "10.0.0.1",
                &[r#"for=6.6.6.6, For="[2001:db8:cafe::17]:4711", for=10.0.0.2"#],
                &c
            ),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            walk("10.0.0.1", &[r#"for="192.0.2.60:_port";proto=https"#], &c),
            ip("192.0.2.60")
        );
        assert_eq!(
            walk("10.0.0.1", &[r#"proto=https; for = "198.51.100.17""#], &c),
            ip("198.51.100.17")
        );
        // A quote the client leaves open swallows what the proxy appends: not the client's `for`.
        assert_eq!(
            walk("10.0.0.1", &[r#"for=6.6.6.6;x=", for=203.0.113.9"#], &c),
            ip("10.0.0.1")
        );
        assert_eq!(
            walk(
                "10.0.0.1",
                &[r#"for=6.6.6.6;x=", for="[2001:db8::9]", for=10.0.0.2"#],
                &c
            ),
            ip("10.0.0.1")
        );
        assert_eq!(
            walk("10.0.0.1", &[r#"for=6.6.6.6;x="\, for=203.0.113.9"#], &c),
            ip("10.0.0.1")
        );
        assert_eq!(
            walk(
                "10.0.0.1",
                &[r#"for=6.6.6.6, for="1.2.3.4, for=10.0.0.2"#],
                &c
            ),
            ip("10.0.0.1")
        );
        assert_eq!(
            walk("10.0.0.1", &[r#"for=6.6.6.6;x=a", for=203.0.113.9"#], &c),
            ip("10.0.0.1")
        );
        // Escapes in other parameters are fine, and so are empty pairs.
        assert_eq!(
            walk("10.0.0.1", &["for=203.0.113.9;;proto=http;"], &c),
            ip("203.0.113.9")
        );
        assert_eq!(
            walk("10.0.0.1", &[r#"for=203.0.113.9;x="a\"b""#], &c),
            ip("203.0.113.9")
        );
        // A comma inside a quoted-string does not split the element.
        assert_eq!(
            walk(
                "10.0.0.1",
                &[r#"for=203.0.113.9;x="a, b", for=10.0.0.2"#],
                &c
            ),
            ip("203.0.113.9")
        );
        // Obfuscated, unknown, missing, doubled or escaped `for`: the walk stops.
        for garbage in [
            "for=unknown",
            "for=_hidden",
            r#"for="_hidden""#,
            "by=10.0.0.9",
            "for=1.2.3.4;for=5.6.7.8",
            r#"for="1.2.\3.4""#,
            "for=[2001:db8::1]:4711x",
            "for",
            "=1.2.3.4",
            "for=",
            "for=1.2.3.4 5.6.7.8",
            r#"for="1.2.3.4"x"#,
        ] {
            assert_eq!(
                walk(
                    "10.0.0.1",
                    &[&format!("for=6.6.6.6, {garbage}, for=10.0.0.2")],
                    &c
                ),
                ip("10.0.0.2"),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn the_configured_header_is_the_one_read() {
        // The adapters pass the values of the configured header; the syntax follows it.
        let f = config(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let x = xff(&["10.0.0.0/8"]);
        // XFF syntax read as Forwarded has no `for=`: the proxy.
        assert_eq!(walk("10.0.0.1", &["203.0.113.9"], &f), ip("10.0.0.1"));
        // Forwarded syntax read as XFF is garbage: the proxy.
        assert_eq!(walk("10.0.0.1", &["for=203.0.113.9"], &x), ip("10.0.0.1"));
    }

    #[test]
    fn many_header_lines_are_one_list_in_order() {
        let c = xff(&["10.0.0.0/8"]);
        assert_eq!(
            walk(
                "10.0.0.1",
                &["6.6.6.6", "203.0.113.9, 10.0.0.3", "10.0.0.2"],
                &c
            ),
            ip("203.0.113.9")
        );
        let f = config(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        assert_eq!(
            walk(
                "10.0.0.1",
                &["for=6.6.6.6", "for=203.0.113.9", "for=10.0.0.2"],
                &f
            ),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn only_the_last_hops_are_examined() {
        let c = xff(&["10.0.0.0/8"]);
        // 40 trusted hops after the client: the walk stops at the 32nd from the right.
        let trusted: Vec<String> = (0..40).map(|i| format!("10.0.1.{i}")).collect();
        let line = format!("203.0.113.9, {}", trusted.join(", "));
        assert_eq!(walk("10.0.0.1", &[&line], &c), ip("10.0.1.8"));
        // A huge list costs one pass; the client is still the rightmost untrusted hop.
        let mut lines = vec!["6.6.6.6, ".repeat(100_000)];
        lines.push("203.0.113.9, 10.0.0.2".into());
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(walk("10.0.0.1", &lines, &c), ip("203.0.113.9"));
    }
}
