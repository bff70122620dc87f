//! Per-client rate limit for the form endpoints (reference/api.md §10 item 24).
//!
//! The older system only *logged* abuse, keyed by an unsalted (reversible) hash of the proxy's
//! address. Here the limit is enforced, clients are keyed by an HMAC-like keyed hash with a
//! per-process random secret (never reversible from logs), and the real client address is taken
//! from `X-Forwarded-For` only when the deployment says a trusted proxy sets it.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Bound on tracked clients; the stalest are dropped first when full.
const MAX_SOURCES: usize = 10_000;

pub struct RateLimiter {
    per_minute: u32,
    secret: [u8; 32],
    state: Mutex<HashMap<[u8; 16], Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Limited { source_hash: String },
}

impl RateLimiter {
    pub fn new(per_minute: u32, secret: [u8; 32]) -> Self {
        Self {
            per_minute,
            secret,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, ip: IpAddr) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(source_of(ip).as_bytes());
        h.update(self.secret);
        let d = h.finalize();
        let mut k = [0u8; 16];
        k.copy_from_slice(&d[..16]);
        k
    }

    pub fn check(&self, ip: IpAddr, now: Instant) -> Verdict {
        let key = self.key(ip);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.len() >= MAX_SOURCES && !state.contains_key(&key) {
            state.retain(|_, w| now.duration_since(w.start) < WINDOW);
            if state.len() >= MAX_SOURCES
                && let Some(oldest) = state.iter().min_by_key(|(_, w)| w.start).map(|(k, _)| *k)
            {
                state.remove(&oldest);
            }
        }
        let w = state.entry(key).or_insert(Window {
            start: now,
            count: 0,
        });
        if now.duration_since(w.start) >= WINDOW {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        w.count += 1;
        if w.count > self.per_minute {
            Verdict::Limited {
                source_hash: hex::encode(&key[..8]),
            }
        } else {
            Verdict::Allowed
        }
    }
}

/// What one client is, for counting: an IPv4 address, or an IPv6 /64 (one subscriber's
/// prefix: a host picks any of its 2^64 addresses at will, so counting addresses counts nothing).
fn source_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The client address: the peer, or with a trusted proxy the right-most `X-Forwarded-For` entry
/// across all the header's lines (the one the proxy itself appended; every entry to its left,
/// and every earlier line, is client-controlled: a client may send its own header line, and the
/// proxy appends its entry to the last one or adds a line of its own).
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &http::HeaderMap,
    trust_proxy: bool,
) -> Option<IpAddr> {
    if trust_proxy {
        let last = headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|s| s.trim().parse().ok());
        if let Some(ip) = last {
            return Some(ip);
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_after_the_configured_count_and_resets_after_a_minute() {
        let rl = RateLimiter::new(3, [7; 32]);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let other: IpAddr = "203.0.113.10".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(rl.check(ip, t0), Verdict::Allowed);
        }
        assert!(matches!(rl.check(ip, t0), Verdict::Limited { .. }));
        assert_eq!(rl.check(other, t0), Verdict::Allowed);
        assert_eq!(rl.check(ip, t0 + WINDOW), Verdict::Allowed);
    }

    fn xff(lines: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", l.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_used_only_behind_a_trusted_proxy() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let h = xff(&["1.1.1.1, 198.51.100.7"]);
        assert_eq!(client_ip(Some(peer), &h, false), Some(peer));
        assert_eq!(
            client_ip(Some(peer), &h, true),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(client_ip(Some(peer), &xff(&["garbage"]), true), Some(peer));
        assert_eq!(client_ip(Some(peer), &xff(&[]), true), Some(peer));
    }

    #[test]
    fn item_06_the_right_most_entry_counts_across_every_forwarded_for_line() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        // A spoofed first line, then the line the proxy added.
        let h = xff(&["203.0.113.66", "1.2.3.4, 198.51.100.7"]);
        assert_eq!(
            client_ip(Some(peer), &h, true),
            Some("198.51.100.7".parse().unwrap())
        );
        let rl = RateLimiter::new(2, [3; 32]);
        let t0 = Instant::now();
        let mut limited = 0;
        for n in 0..5 {
            let spoofed = format!("203.0.113.{n}");
            let h = xff(&[&spoofed, "198.51.100.7"]);
            let ip = client_ip(Some(peer), &h, true).unwrap();
            if rl.check(ip, t0) != Verdict::Allowed {
                limited += 1;
            }
        }
        assert_eq!(
            limited, 3,
            "a new spoofed first line each time changes nothing"
        );
    }

    #[test]
    fn item_06_ipv6_clients_are_counted_per_64_prefix() {
        let rl = RateLimiter::new(2, [5; 32]);
        let t0 = Instant::now();
        let same_64 = [
            "2001:db8:1:2::1",
            "2001:db8:1:2:ffff::9",
            "2001:db8:1:2:abcd:ef01:2345:6789",
        ];
        let verdicts: Vec<Verdict> = same_64
            .iter()
            .map(|a| rl.check(a.parse().unwrap(), t0))
            .collect();
        assert_eq!(verdicts[..2], [Verdict::Allowed, Verdict::Allowed]);
        assert!(matches!(verdicts[2], Verdict::Limited { .. }));
        assert_eq!(
            rl.check("2001:db8:1:3::1".parse().unwrap(), t0),
            Verdict::Allowed
        );
        // An IPv4 client seen through an IPv6 socket is the same IPv4 client.
        let v4 = RateLimiter::new(1, [5; 32]);
        assert_eq!(v4.check("192.0.2.7".parse().unwrap(), t0), Verdict::Allowed);
        assert!(matches!(
            v4.check("::ffff:192.0.2.7".parse().unwrap(), t0),
            Verdict::Limited { .. }
        ));
    }

    #[test]
    fn source_hashes_do_not_contain_the_address() {
        let rl = RateLimiter::new(0, [1; 32]);
        let Verdict::Limited { source_hash } =
            rl.check("192.0.2.1".parse().unwrap(), Instant::now())
        else {
            panic!("limit 0 must limit");
        };
        assert!(!source_hash.contains("192"));
        assert_eq!(source_hash.len(), 16);
    }
}
