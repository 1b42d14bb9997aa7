//! Trusted-source parsing on arbitrary input: never a panic; an accepted
//! source contains its network address and not the address just past its
//! range; its written form parses to the same source.
#![no_main]

use std::net::IpAddr;

use correlated::tower::TrustedSource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(source) = text.parse::<TrustedSource>() else {
        return;
    };
    let written = source.to_string();
    assert_eq!(written.parse::<TrustedSource>(), Ok(source));

    let (network, prefix) = match written.split_once('/') {
        Some((network, prefix)) => (network, prefix.parse::<u32>().expect("a prefix length")),
        None => (
            written.as_str(),
            if written.contains(':') { 128 } else { 32 },
        ),
    };
    let network: IpAddr = network.parse().expect("an address");
    assert!(
        source.contains(network),
        "{written} contains its network address"
    );

    match network {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let size = 1u64 << (32 - prefix);
            let host_mask = u32::try_from(size - 1).expect("at most 32 bits");
            assert_eq!(bits & host_mask, 0, "host bits of {written} are zero");
            if let Ok(next) = u32::try_from(u64::from(bits) + size) {
                assert!(
                    !source.contains(IpAddr::from(next.to_be_bytes())),
                    "{written} ends at its range"
                );
            }
            let last = u32::try_from(u64::from(bits) + size - 1).expect("in range");
            assert!(source.contains(IpAddr::from(last.to_be_bytes())));
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let host_mask = 1u128.checked_shl(128 - prefix).unwrap_or(0).wrapping_sub(1);
            assert_eq!(bits & host_mask, 0, "host bits of {written} are zero");
            let last = bits | host_mask;
            assert!(source.contains(IpAddr::from(last.to_be_bytes())));
            if let Some(next) = last.checked_add(1) {
                let next = IpAddr::from(next.to_be_bytes());
                // An IPv4-mapped range also matches the IPv4 form; the next
                // IPv6 address after it is outside either way.
                assert!(!source.contains(next), "{written} ends at its range");
            }
        }
    }
});
