//! Trusted sources: exact addresses and CIDR ranges, parsed strictly.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A peer whose correlation header is believed: one IPv4 or IPv6 address, or
/// a CIDR range such as `10.0.0.0/8` or `fd00::/8`.
///
/// An IPv4 source also matches the same address in its IPv4-mapped IPv6 form
/// (`::ffff:10.1.2.3`), which dual-stack sockets report, and the other way
/// round.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
/// use std::net::IpAddr;
/// use correlated::tower::TrustedSource;
///
/// let lan: TrustedSource = "10.0.0.0/8".parse().unwrap();
/// assert!(lan.contains("10.20.30.40".parse().unwrap()));
/// assert!(lan.contains("::ffff:10.20.30.40".parse().unwrap()));
/// assert!(!lan.contains("11.0.0.1".parse().unwrap()));
///
/// let proxy = TrustedSource::from("2001:db8::1".parse::<IpAddr>().unwrap());
/// assert_eq!(proxy.to_string(), "2001:db8::1");
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrustedSource {
    network: IpAddr,
    prefix: u8,
}

impl TrustedSource {
    /// Whether `peer` is this address or lies in this range.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// let loopback: correlated::tower::TrustedSource = "127.0.0.0/8".parse().unwrap();
    /// assert!(loopback.contains("127.0.0.1".parse().unwrap()));
    /// assert!(!loopback.contains("::1".parse().unwrap()));
    /// # }
    /// ```
    pub fn contains(&self, peer: IpAddr) -> bool {
        if self.contains_same_family(peer) {
            return true;
        }
        // Dual-stack sockets report IPv4 peers as `::ffff:a.b.c.d`.
        match peer {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains_same_family(IpAddr::V4(v4))),
            IpAddr::V4(v4) => self.contains_same_family(IpAddr::V6(v4.to_ipv6_mapped())),
        }
    }

    fn contains_same_family(&self, peer: IpAddr) -> bool {
        match (self.network, peer) {
            (IpAddr::V4(network), IpAddr::V4(peer)) => {
                let mask = mask_v4(self.prefix);
                u32::from(peer) & mask == u32::from(network)
            }
            (IpAddr::V6(network), IpAddr::V6(peer)) => {
                let mask = mask_v6(self.prefix);
                u128::from(peer) & mask == u128::from(network)
            }
            _ => false,
        }
    }

    fn max_prefix(network: IpAddr) -> u8 {
        match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    /// The range with the host bits of `address` cleared.
    fn masked(address: IpAddr, prefix: u8) -> Self {
        let network = match address {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask_v4(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask_v6(prefix))),
        };
        Self { network, prefix }
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// Exactly this one address.
impl From<IpAddr> for TrustedSource {
    fn from(address: IpAddr) -> Self {
        let prefix = Self::max_prefix(address);
        Self {
            network: address,
            prefix,
        }
    }
}

/// Parses `ADDRESS` or `ADDRESS/PREFIX`, IPv4 or IPv6, ignoring surrounding
/// whitespace.
///
/// Strict on purpose, since this decides whom to believe: no host names, no
/// zone ids (`fe80::1%eth0`), no leading zeros or signs in the prefix, and no
/// host bits set below the prefix (`10.0.0.1/8` is refused with a hint to
/// write `10.0.0.0/8`).
///
/// # Errors
///
/// [`InvalidTrustedSource`], whose message names the entry and the problem.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
/// use correlated::tower::TrustedSource;
///
/// assert!("192.168.0.0/16".parse::<TrustedSource>().is_ok());
/// assert!(" ::1 ".parse::<TrustedSource>().is_ok());
///
/// let err = "10.0.0.0/33".parse::<TrustedSource>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid trusted source `10.0.0.0/33`: the prefix length 33 is longer than \
///      the 32 bits of an IPv4 address",
/// );
/// # }
/// ```
impl FromStr for TrustedSource {
    type Err = InvalidTrustedSource;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let fail = |reason| InvalidTrustedSource::new(entry, reason);
        let trimmed = entry.trim();
        if trimmed.is_empty() {
            return Err(fail(Reason::Empty));
        }
        let (address, prefix) = match trimmed.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (trimmed, None),
        };
        let address: IpAddr = address.parse().map_err(|_| fail(Reason::NotAnAddress))?;
        let max = Self::max_prefix(address);
        let prefix = match prefix {
            None => max,
            Some(text) => {
                let prefix = parse_prefix(text).ok_or_else(|| fail(Reason::BadPrefix))?;
                if prefix > u32::from(max) {
                    return Err(fail(Reason::PrefixTooLong {
                        prefix,
                        v4: address.is_ipv4(),
                    }));
                }
                // Fits: at most 128.
                prefix as u8
            }
        };
        let source = Self::masked(address, prefix);
        if source.network != address {
            return Err(fail(Reason::HostBitsSet { network: source }));
        }
        Ok(source)
    }
}

/// Decimal digits only, no sign, no leading zero (except `0` itself).
fn parse_prefix(text: &str) -> Option<u32> {
    let well_formed = !text.is_empty()
        && text.len() <= 3
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if well_formed { text.parse().ok() } else { None }
}

/// Written the way it parses: `10.0.0.0/8`, or a bare address for a single
/// host.
impl fmt::Display for TrustedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == Self::max_prefix(self.network) {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

impl fmt::Debug for TrustedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedSource({self})")
    }
}

/// A trusted-source entry that is not an IP address or a CIDR range.
///
/// Returned when the middleware is configured, so a typo in the trust list stops
/// the service from starting instead of silently trusting no one (or
/// everyone). The message names the entry and says what is wrong with it.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "tower")]
/// # {
/// use correlated::tower::CorrelationLayer;
///
/// let err = CorrelationLayer::builder().trust("10.0.0.1/8").unwrap_err();
/// assert_eq!(err.entry(), "10.0.0.1/8");
/// assert!(err.to_string().contains("write it as `10.0.0.0/8`"));
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct InvalidTrustedSource {
    entry: String,
    reason: Reason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    Empty,
    NotAnAddress,
    BadPrefix,
    PrefixTooLong { prefix: u32, v4: bool },
    HostBitsSet { network: TrustedSource },
}

impl InvalidTrustedSource {
    fn new(entry: &str, reason: Reason) -> Self {
        Self {
            entry: entry.to_owned(),
            reason,
        }
    }

    /// The entry that was refused, as it was given.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # {
    /// let err = "localhost".parse::<correlated::tower::TrustedSource>().unwrap_err();
    /// assert_eq!(err.entry(), "localhost");
    /// # }
    /// ```
    pub fn entry(&self) -> &str {
        &self.entry
    }
}

/// The entry is shown escaped and cut at 64 characters, so a stray control
/// character or a huge value from a configuration file stays on one line.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 64;
        f.write_str("`")?;
        for c in self.0.chars().take(SHOWN) {
            write!(f, "{}", c.escape_debug())?;
        }
        if self.0.chars().nth(SHOWN).is_some() {
            f.write_str("...")?;
        }
        f.write_str("`")
    }
}

impl fmt::Display for InvalidTrustedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid trusted source {}: ", Quoted(&self.entry))?;
        match self.reason {
            Reason::Empty => f.write_str("it is empty; expected an IP address or a CIDR range"),
            Reason::NotAnAddress => f.write_str(
                "expected an IPv4 or IPv6 address, optionally followed by `/PREFIX` \
                 (host names and zone ids are not accepted)",
            ),
            Reason::BadPrefix => {
                f.write_str("the prefix length after `/` must be a decimal number like `8`")
            }
            Reason::PrefixTooLong { prefix, v4: true } => write!(
                f,
                "the prefix length {prefix} is longer than the 32 bits of an IPv4 address"
            ),
            Reason::PrefixTooLong { prefix, v4: false } => write!(
                f,
                "the prefix length {prefix} is longer than the 128 bits of an IPv6 address"
            ),
            Reason::HostBitsSet { network } => write!(
                f,
                "bits are set after the prefix; write it as `{network}` to trust that range"
            ),
        }
    }
}

impl fmt::Debug for InvalidTrustedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidTrustedSource")
            .field("entry", &format_args!("{}", Quoted(&self.entry)))
            .field("reason", &self.reason)
            .finish()
    }
}

impl std::error::Error for InvalidTrustedSource {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(entry: &str) -> Result<TrustedSource, InvalidTrustedSource> {
        entry.parse()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn exact_addresses_match_only_themselves() {
        let v4 = parse("192.0.2.7").unwrap();
        assert!(v4.contains(ip("192.0.2.7")));
        assert!(!v4.contains(ip("192.0.2.8")));
        let v6 = parse("2001:db8::7").unwrap();
        assert!(v6.contains(ip("2001:db8::7")));
        assert!(!v6.contains(ip("2001:db8::8")));
    }

    #[test]
    fn ranges_match_their_bounds_and_nothing_outside() {
        let lan = parse("172.16.0.0/12").unwrap();
        assert!(lan.contains(ip("172.16.0.0")));
        assert!(lan.contains(ip("172.31.255.255")));
        assert!(!lan.contains(ip("172.32.0.0")));
        assert!(!lan.contains(ip("172.15.255.255")));

        let ula = parse("fd00::/8").unwrap();
        assert!(ula.contains(ip("fdff:ffff::1")));
        assert!(!ula.contains(ip("fe00::1")));
    }

    #[test]
    fn zero_prefixes_match_their_whole_family() {
        let all_v4 = parse("0.0.0.0/0").unwrap();
        assert!(all_v4.contains(ip("255.255.255.255")));
        assert!(!all_v4.contains(ip("2001:db8::1")));
        let all_v6 = parse("::/0").unwrap();
        assert!(all_v6.contains(ip("2001:db8::1")));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_sources_and_back() {
        let lan = parse("10.0.0.0/8").unwrap();
        assert!(lan.contains(ip("::ffff:10.1.2.3")));
        assert!(!lan.contains(ip("::ffff:11.1.2.3")));
        // The deprecated IPv4-compatible form is not a mapped address.
        assert!(!lan.contains(ip("::10.1.2.3")));

        let mapped = parse("::ffff:10.1.2.3").unwrap();
        assert!(mapped.contains(ip("10.1.2.3")));
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(
            parse(" 10.0.0.0/8\n").unwrap(),
            parse("10.0.0.0/8").unwrap()
        );
    }

    #[test]
    fn display_round_trips() {
        for entry in [
            "10.0.0.0/8",
            "192.0.2.1",
            "2001:db8::/32",
            "::1",
            "0.0.0.0/0",
        ] {
            assert_eq!(parse(entry).unwrap().to_string(), entry);
        }
    }

    #[test]
    fn bad_entries_are_refused_with_the_reason() {
        let cases = [
            ("", Reason::Empty),
            ("   ", Reason::Empty),
            ("localhost", Reason::NotAnAddress),
            ("10.0.0", Reason::NotAnAddress),
            ("10.0.0.256", Reason::NotAnAddress),
            ("fe80::1%eth0", Reason::NotAnAddress),
            ("10.0.0.0/", Reason::BadPrefix),
            ("10.0.0.0/+8", Reason::BadPrefix),
            ("10.0.0.0/-1", Reason::BadPrefix),
            ("10.0.0.0/08", Reason::BadPrefix),
            ("10.0.0.0/8/8", Reason::BadPrefix),
            ("10.0.0.0/ 8", Reason::BadPrefix),
            ("10.0.0.0/1000", Reason::BadPrefix),
            ("/8", Reason::NotAnAddress),
            (
                "10.0.0.0/33",
                Reason::PrefixTooLong {
                    prefix: 33,
                    v4: true,
                },
            ),
            (
                "::/129",
                Reason::PrefixTooLong {
                    prefix: 129,
                    v4: false,
                },
            ),
            (
                "10.0.0.1/8",
                Reason::HostBitsSet {
                    network: parse("10.0.0.0/8").unwrap(),
                },
            ),
            (
                "2001:db8::1/32",
                Reason::HostBitsSet {
                    network: parse("2001:db8::/32").unwrap(),
                },
            ),
        ];
        for (entry, reason) in cases {
            let err = parse(entry).unwrap_err();
            assert_eq!(err.reason, reason, "{entry:?}");
            assert_eq!(err.entry(), entry);
        }
    }

    #[test]
    fn messages_name_the_entry_and_stay_on_one_line() {
        let err = parse("10.0.0.0/33").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid trusted source `10.0.0.0/33`:")
        );

        let err = parse("evil\n10.0.0.0").unwrap_err();
        assert!(!err.to_string().contains('\n'));
        assert!(err.to_string().contains("evil\\n10.0.0.0"));

        let long = "9".repeat(1000);
        let err = parse(&long).unwrap_err();
        assert!(err.to_string().len() < 300);
        assert!(format!("{err:?}").len() < 300);
    }
}
