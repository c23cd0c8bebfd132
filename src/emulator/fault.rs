//! The misbehaviours the emulator can inject (`--fault`, `set_fault`, `fail_next`): their
//! names, which of them a request sees, and what each does to a reply.
use std::fmt;
use std::str::FromStr;

use super::{token_flavor, Reply, RequestFacts};
use crate::http::header;
use crate::net::ProviderKind;

const GARBAGE: &[u8] = b"\x00\xff<html>not { json \x7f\xfe]]";

/// A misbehaviour to inject into answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// 500 with a short text body.
    Http500,
    /// Accept the request and never answer (until shutdown).
    Timeout,
    /// 200 with the normal headers and a body that is not JSON.
    Garbage,
    /// 200 with the normal headers and an empty body.
    Empty,
    /// 429 with `Retry-After: 1`, as a throttling IMDS answers.
    Throttle,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::None,
        Fault::Http500,
        Fault::Timeout,
        Fault::Garbage,
        Fault::Empty,
        Fault::Throttle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Http500 => "http500",
            Fault::Timeout => "timeout",
            Fault::Garbage => "garbage",
            Fault::Empty => "empty",
            Fault::Throttle => "throttle",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fault::ALL
            .into_iter()
            .find(|fault| fault.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown fault '{s}' (expected none, http500, timeout, garbage, empty or throttle)")
            })
    }
}

/// The fault that applies to this request: token PUTs (EC2, Alibaba) only see http500 and
/// timeout.
pub(super) fn effective_fault(provider: ProviderKind, fault: Fault, facts: &RequestFacts) -> Fault {
    let token_put = token_flavor(provider).is_some() && facts.method == "PUT";
    match fault {
        Fault::Garbage | Fault::Empty if token_put => Fault::None,
        other => other,
    }
}

/// The reply with `fault` applied (the normal headers are kept, so it still looks right).
pub(super) fn apply_fault(fault: Fault, reply: Reply) -> Reply {
    match fault {
        Fault::None | Fault::Timeout => reply,
        Fault::Http500 => Reply {
            status: 500,
            body: b"Internal Server Error\n".to_vec(),
            ..reply
        }
        .with_header(header::CONTENT_TYPE, "text/plain"),
        Fault::Garbage => Reply {
            status: 200,
            body: GARBAGE.to_vec(),
            ..reply
        },
        Fault::Empty => Reply {
            status: 200,
            body: Vec::new(),
            ..reply
        },
        Fault::Throttle => Reply {
            status: 429,
            body: b"Too Many Requests\n".to_vec(),
            ..reply
        }
        .with_header(header::CONTENT_TYPE, "text/plain")
        .with_header(header::RETRY_AFTER, "1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>(), Ok(fault));
        }
        assert_eq!("HTTP500".parse::<Fault>(), Ok(Fault::Http500));
        let err = "slow".parse::<Fault>().expect_err("unknown fault");
        assert!(err.contains("'slow'") && err.contains("garbage"), "{err}");
    }

    #[test]
    fn faults_keep_headers() {
        let reply = Reply::new(200, "{}")
            .with_header("Content-Type", "application/json")
            .with_header("Metadata-Flavor", "Google");
        let garbage = apply_fault(Fault::Garbage, reply.clone());
        assert_eq!((garbage.status, garbage.body.as_slice()), (200, GARBAGE));
        assert!(serde_json::from_slice::<serde_json::Value>(&garbage.body).is_err());
        assert_eq!(garbage.header("content-type"), Some("application/json"));
        let empty = apply_fault(Fault::Empty, reply.clone());
        assert_eq!((empty.status, empty.body.len()), (200, 0));
        let error = apply_fault(Fault::Http500, reply.clone());
        assert_eq!(error.status, 500);
        assert_eq!(error.header("metadata-flavor"), Some("Google"));
        let throttled = apply_fault(Fault::Throttle, reply.clone());
        assert_eq!(throttled.status, 429);
        assert_eq!(throttled.header("retry-after"), Some("1"));
        assert_eq!(throttled.header("metadata-flavor"), Some("Google"));
        assert_eq!(apply_fault(Fault::None, reply.clone()), reply);
    }

    #[test]
    fn ec2_token_put_only_sees_server_faults() {
        let put = RequestFacts::new("PUT", "/latest/api/token");
        let get = RequestFacts::new("GET", "/latest/meta-data/");
        let aws = ProviderKind::Aws;
        assert_eq!(effective_fault(aws, Fault::Garbage, &put), Fault::None);
        assert_eq!(effective_fault(aws, Fault::Empty, &put), Fault::None);
        assert_eq!(effective_fault(aws, Fault::Http500, &put), Fault::Http500);
        assert_eq!(effective_fault(aws, Fault::Timeout, &put), Fault::Timeout);
        assert_eq!(effective_fault(aws, Fault::Garbage, &get), Fault::Garbage);
        let alibaba = ProviderKind::Alibaba;
        assert_eq!(effective_fault(alibaba, Fault::Garbage, &put), Fault::None);
        assert_eq!(effective_fault(alibaba, Fault::Empty, &put), Fault::None);
        assert_eq!(
            effective_fault(alibaba, Fault::Http500, &put),
            Fault::Http500
        );
        assert_eq!(effective_fault(alibaba, Fault::Empty, &get), Fault::Empty);
        let gcp = ProviderKind::Gcp;
        assert_eq!(effective_fault(gcp, Fault::Empty, &put), Fault::Empty);
    }
}
