//! Deterministic carving of one public and one private subnet per AZ out of the VPC CIDR.
//!
//! The VPC is cut into equal slots of `prefix + bits` where `bits = max(4, ceil(log2(2 * azs)))`;
//! the first half of the slots holds public subnets (AZ order), the second half private ones.
//! A `/16` with three AZs gives `/20`s: public `x.x.0.0`, `.16.0`, `.32.0`; private `.128.0`,
//! `.144.0`, `.160.0`. Adding an AZ later never moves an existing subnet.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The two subnets of one availability zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzSubnets {
    /// The AZ name, e.g. `eu-west-1a`.
    pub az: String,
    /// Load balancer and NAT gateway subnet.
    pub public: Ipv4Net,
    /// Gateways, ElastiCache and MongoDB subnet.
    pub private: Ipv4Net,
}

/// Smallest subnet AWS allows.
const MAX_PREFIX: u8 = 28;

/// Carves the subnets; panics if the VPC is too small, which validation must reject first
/// (the VPC prefix must be at most `28 - max(4, ceil(log2(2 * azs)))`, i.e. `/24` for up to 8 AZs).
pub fn carve(vpc: Ipv4Net, azs: &[String]) -> Vec<AzSubnets> {
    let n = azs.len().max(1);
    let needed = (2 * n).next_power_of_two().trailing_zeros() as u8;
    let bits = needed.max(4);
    let prefix = vpc.prefix_len() + bits;
    assert!(
        prefix <= MAX_PREFIX,
        "VPC {vpc} is too small for {n} AZs (needs /{prefix} subnets; config validation should reject this)"
    );
    let half = 1usize << (bits - 1);
    let slots: Vec<Ipv4Net> = vpc.subnets(prefix).expect("valid prefix").collect();
    azs.iter()
        .enumerate()
        .map(|(i, az)| AzSubnets {
            az: az.clone(),
            public: slots[i],
            private: slots[half + i],
        })
        .collect()
}

/// The address `offset` hosts into a subnet (AWS reserves offsets 0-3 and the last one).
pub fn host(net: Ipv4Net, offset: u32) -> Ipv4Addr {
    let addr = Ipv4Addr::from(u32::from(net.network()) + offset);
    assert!(
        offset >= 4 && net.contains(&addr) && addr != net.broadcast(),
        "offset {offset} is not a usable address in {net}"
    );
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azs(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("xx-1{}", (b'a' + i as u8) as char))
            .collect()
    }

    #[test]
    fn three_azs_in_a_slash_16() {
        let s = carve("10.40.0.0/16".parse().unwrap(), &azs(3));
        let got: Vec<String> = s
            .iter()
            .flat_map(|a| [a.public.to_string(), a.private.to_string()])
            .collect();
        assert_eq!(
            got,
            [
                "10.40.0.0/20",
                "10.40.128.0/20",
                "10.40.16.0/20",
                "10.40.144.0/20",
                "10.40.32.0/20",
                "10.40.160.0/20"
            ]
        );
    }

    #[test]
    fn subnets_are_inside_the_vpc_and_disjoint() {
        for (cidr, n) in [
            ("10.0.0.0/16", 1),
            ("10.1.0.0/20", 3),
            ("172.16.0.0/24", 6),
            ("10.9.0.0/16", 12),
        ] {
            let vpc: Ipv4Net = cidr.parse().unwrap();
            let all: Vec<Ipv4Net> = carve(vpc, &azs(n))
                .iter()
                .flat_map(|a| [a.public, a.private])
                .collect();
            assert_eq!(all.len(), 2 * n);
            for (i, a) in all.iter().enumerate() {
                assert!(vpc.contains(a), "{a} outside {vpc}");
                assert!(a.prefix_len() <= MAX_PREFIX);
                for b in &all[i + 1..] {
                    assert!(!a.contains(b) && !b.contains(a), "{a} overlaps {b}");
                }
            }
        }
    }

    #[test]
    fn adding_an_az_keeps_existing_subnets() {
        let vpc: Ipv4Net = "10.0.0.0/16".parse().unwrap();
        let three = carve(vpc, &azs(3));
        let four = carve(vpc, &azs(4));
        assert_eq!(three[..], four[..3]);
    }

    #[test]
    #[should_panic(expected = "too small")]
    fn tiny_vpc_is_rejected() {
        carve("10.0.0.0/26".parse().unwrap(), &azs(3));
    }

    #[test]
    fn host_offsets() {
        let net: Ipv4Net = "10.40.128.0/20".parse().unwrap();
        assert_eq!(host(net, 10).to_string(), "10.40.128.10");
    }
}
