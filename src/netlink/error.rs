//! Netlink errors: the kernel's errno sorted into the cases callers act on, each naming the
//! object it concerns and carrying the kernel's extended-ACK text; plus socket, encoding and
//! decoding faults.

use std::{fmt, io};

/// What the kernel said about one request: its errno, the object, and its own explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// Positive errno (`libc::EEXIST`, ...).
    pub errno: i32,
    /// The object the request was about, e.g. "address 10.4.0.6/24 on ifindex 3".
    pub object: String,
    /// The kernel's extended-ACK message, when it sent one.
    pub ext_ack: Option<String>,
}

#[derive(Debug)]
pub enum NetlinkError {
    /// EEXIST: the object is already there.
    Exists(KernelError),
    /// ENOENT, ESRCH or EADDRNOTAVAIL: the object is not there.
    NotFound(KernelError),
    /// EPERM or EACCES: CAP_NET_ADMIN is missing.
    Permission(KernelError),
    /// ENODEV: the link does not exist (any more).
    NoSuchDevice(KernelError),
    /// ENETUNREACH: a gateway not reachable on its link.
    Unreachable(KernelError),
    /// EINVAL: the kernel rejected a value (an impossible MTU, a bad prefix...).
    Invalid(KernelError),
    /// Any other errno.
    Other(KernelError),
    /// The socket itself failed (open, option, send, receive).
    Io { op: &'static str, source: io::Error },
    /// A request could not be built or encoded (nothing was sent for it).
    Encode(String),
    /// A reply or event could not be read.
    Decode(String),
}

impl NetlinkError {
    /// Sorts a kernel errno (positive) into its variant.
    pub fn from_kernel(errno: i32, object: String, ext_ack: Option<String>) -> NetlinkError {
        let err = KernelError {
            errno,
            object,
            ext_ack,
        };
        match errno {
            libc::EEXIST => NetlinkError::Exists(err),
            libc::ENOENT | libc::ESRCH | libc::EADDRNOTAVAIL => NetlinkError::NotFound(err),
            libc::EPERM | libc::EACCES => NetlinkError::Permission(err),
            libc::ENODEV => NetlinkError::NoSuchDevice(err),
            libc::ENETUNREACH => NetlinkError::Unreachable(err),
            libc::EINVAL => NetlinkError::Invalid(err),
            _ => NetlinkError::Other(err),
        }
    }

    pub fn io(op: &'static str, source: io::Error) -> NetlinkError {
        NetlinkError::Io { op, source }
    }

    /// The errno behind this error: the kernel's, or the socket's.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Io { source, .. } => source.raw_os_error(),
            NetlinkError::Encode(_) | NetlinkError::Decode(_) => None,
            kernel => kernel.kernel().map(|k| k.errno),
        }
    }

    /// The kernel's answer, for the errno variants.
    pub fn kernel(&self) -> Option<&KernelError> {
        match self {
            NetlinkError::Exists(k)
            | NetlinkError::NotFound(k)
            | NetlinkError::Permission(k)
            | NetlinkError::NoSuchDevice(k)
            | NetlinkError::Unreachable(k)
            | NetlinkError::Invalid(k)
            | NetlinkError::Other(k) => Some(k),
            NetlinkError::Io { .. } | NetlinkError::Encode(_) | NetlinkError::Decode(_) => None,
        }
    }

    /// A copy for reporting one socket failure against every request it swallowed.
    pub(crate) fn duplicate(&self) -> NetlinkError {
        match self {
            NetlinkError::Io { op, source } => NetlinkError::Io {
                op,
                source: io::Error::new(source.kind(), source.to_string()),
            },
            NetlinkError::Encode(text) => NetlinkError::Encode(text.clone()),
            NetlinkError::Decode(text) => NetlinkError::Decode(text.clone()),
            kernel => match kernel.kernel() {
                Some(k) => NetlinkError::from_kernel(k.errno, k.object.clone(), k.ext_ack.clone()),
                None => NetlinkError::Decode(kernel.to_string()),
            },
        }
    }
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetlinkError::Io { op, source } => write!(f, "netlink {op}: {source}"),
            NetlinkError::Encode(text) => write!(f, "netlink request not built: {text}"),
            NetlinkError::Decode(text) => write!(f, "netlink message: {text}"),
            kernel => match kernel.kernel() {
                Some(k) => fmt_kernel(f, k),
                None => Ok(()),
            },
        }
    }
}

fn fmt_kernel(f: &mut fmt::Formatter<'_>, k: &KernelError) -> fmt::Result {
    let reason = io::Error::from_raw_os_error(k.errno);
    write!(f, "{}: {reason}", k.object)?;
    match &k.ext_ack {
        Some(text) => write!(f, " ({text})"),
        None => Ok(()),
    }
}

impl std::error::Error for NetlinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NetlinkError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoding_failure_is_not_reported_as_decoding() {
        let encode = NetlinkError::Encode("building attribute: missing rta_type".to_string());
        assert_eq!(
            encode.to_string(),
            "netlink request not built: building attribute: missing rta_type"
        );
        assert_eq!((encode.errno(), encode.kernel()), (None, None));
        assert!(
            matches!(encode.duplicate(), NetlinkError::Encode(text) if text.contains("rta_type"))
        );
        let decode = NetlinkError::Decode("short error message".to_string());
        assert_eq!(decode.to_string(), "netlink message: short error message");
    }
}
