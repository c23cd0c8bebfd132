//! Reading received netlink messages: splitting a datagram into messages, walking a message's
//! attributes, and reading an NLMSG_ERROR's errno and extended-ACK text (capped or full echo of
//! the request). Everything borrows from the receive buffer.

use super::error::NetlinkError;
use neli::consts::nl::NlmF;

const NLMSG_HDRLEN: usize = 16;
const NLMSGERR_ATTR_MSG: u16 = 1;
/// The attribute header: `rta_len` (u16, header included) and `rta_type` (u16).
const RTA_HDRLEN: usize = 4;
/// `NLA_TYPE_MASK`: the type without the NLA_F_NESTED and NLA_F_NET_BYTEORDER bits.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// One received netlink message, borrowed from the receive buffer.
pub(super) struct Frame<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub body: &'a [u8],
}

/// The messages of one datagram.
pub(super) struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Frames<'a> {
    pub(super) fn new(datagram: &'a [u8]) -> Frames<'a> {
        Frames { rest: datagram }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, NetlinkError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = read_u32(self.rest, 0) as usize;
        if len < NLMSG_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return Some(Err(NetlinkError::Decode(format!(
                "message length {len} out of bounds"
            ))));
        }
        let frame = Frame {
            ty: read_u16(self.rest, 4),
            flags: read_u16(self.rest, 6),
            seq: read_u32(self.rest, 8),
            pid: read_u32(self.rest, 12),
            body: &self.rest[NLMSG_HDRLEN..len],
        };
        self.rest = &self.rest[align(len).min(self.rest.len())..];
        Some(Ok(frame))
    }
}

/// An NLMSG_ERROR body: `None` for an ACK, else the positive errno and the extended-ACK text.
pub(super) fn parse_error(
    frame: &Frame<'_>,
) -> Result<Option<(i32, Option<String>)>, NetlinkError> {
    let body = frame.body;
    if body.len() < 4 + NLMSG_HDRLEN {
        return Err(NetlinkError::Decode("short error message".to_string()));
    }
    let code = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
    if code == 0 {
        return Ok(None);
    }
    let echoed = if frame.flags & NlmF::CAPPED.bits() != 0 {
        NLMSG_HDRLEN
    } else {
        read_u32(body, 4) as usize
    };
    let ext_ack = if frame.flags & NlmF::ACK_TLVS.bits() != 0 {
        body.get(4 + align(echoed)..).and_then(ext_ack_message)
    } else {
        None
    };
    Ok(Some((code.saturating_neg(), ext_ack)))
}

/// The NLMSGERR_ATTR_MSG string among the extended-ACK attributes.
fn ext_ack_message(attrs: &[u8]) -> Option<String> {
    let (_, text) = Attrs::new(attrs)
        .map_while(Result::ok)
        .find(|(ty, _)| *ty == NLMSGERR_ATTR_MSG)?;
    let text = text.split(|b| *b == 0).next().unwrap_or_default();
    Some(String::from_utf8_lossy(text).into_owned())
}

/// The attributes (`struct rtattr` / `struct nlattr` and payload) packed after a message's
/// fixed header: each is its type (flag bits masked off) and its payload.
pub(super) struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub(super) fn new(attributes: &'a [u8]) -> Attrs<'a> {
        Attrs { rest: attributes }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), NetlinkError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < RTA_HDRLEN {
            return None;
        }
        let len = usize::from(read_u16(self.rest, 0));
        if len < RTA_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return Some(Err(NetlinkError::Decode(format!(
                "attribute length {len} out of bounds"
            ))));
        }
        let ty = read_u16(self.rest, 2) & NLA_TYPE_MASK;
        let payload = &self.rest[RTA_HDRLEN..len];
        self.rest = &self.rest[align(len).min(self.rest.len())..];
        Some(Ok((ty, payload)))
    }
}

#[inline(always)]
fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// A native-endian u16 at `at`; the caller has checked the length. Always inlined: the
/// dump decoders call it per attribute, and `opt-level = "z"` would otherwise make it a call.
#[inline(always)]
pub(super) fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

/// A native-endian u32 at `at`; the caller has checked the length (inlined, as `read_u16`).
#[inline(always)]
pub(super) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use neli::consts::nl::Nlmsg;

    /// An NLMSG_ERROR message for sequence 7: errno, echoed request, then TLVs.
    fn error_message(errno: i32, flags: u16, echoed: &[u8], tlvs: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDRLEN + 4 + echoed.len() + tlvs.len();
        let mut msg = Vec::new();
        msg.extend((len as u32).to_ne_bytes());
        msg.extend(u16::from(Nlmsg::Error).to_ne_bytes());
        msg.extend(flags.to_ne_bytes());
        msg.extend(7u32.to_ne_bytes());
        msg.extend(99u32.to_ne_bytes());
        msg.extend((-errno).to_ne_bytes());
        msg.extend(echoed);
        msg.extend(tlvs);
        msg
    }

    /// A request header of `len` bytes followed by its body, as echoed by the kernel.
    fn echoed_request(len: u32, body: usize) -> Vec<u8> {
        let mut echoed = len.to_ne_bytes().to_vec();
        echoed.extend([0; 12]);
        echoed.extend(vec![0xee; body]);
        echoed
    }

    fn msg_tlv(text: &str) -> Vec<u8> {
        let mut tlv = ((4 + text.len() + 1) as u16).to_ne_bytes().to_vec();
        tlv.extend(NLMSGERR_ATTR_MSG.to_ne_bytes());
        tlv.extend(text.as_bytes());
        tlv.push(0);
        tlv.resize(align(tlv.len()), 0);
        tlv
    }

    fn only_frame(bytes: &[u8]) -> Frame<'_> {
        let mut frames = Frames::new(bytes);
        let frame = frames.next().unwrap().unwrap();
        assert!(frames.next().is_none());
        frame
    }

    #[test]
    fn an_ack_has_no_error() {
        let bytes = error_message(0, 0, &echoed_request(16, 0), &[]);
        let frame = only_frame(&bytes);
        assert_eq!((frame.seq, frame.pid), (7, 99));
        assert_eq!(parse_error(&frame).unwrap(), None);
    }

    #[test]
    fn a_full_echo_is_skipped_to_reach_the_extended_ack() {
        let flags = NlmF::ACK_TLVS.bits();
        let tlv = msg_tlv("Nexthop has invalid gateway");
        let bytes = error_message(101, flags, &echoed_request(40, 24), &tlv);
        let parsed = parse_error(&only_frame(&bytes)).unwrap();
        assert_eq!(
            parsed,
            Some((101, Some("Nexthop has invalid gateway".to_string())))
        );
    }

    #[test]
    fn a_capped_echo_holds_only_the_header() {
        let flags = NlmF::ACK_TLVS.bits() | NlmF::CAPPED.bits();
        let bytes = error_message(17, flags, &echoed_request(40, 0), &msg_tlv("exists"));
        let parsed = parse_error(&only_frame(&bytes)).unwrap();
        assert_eq!(parsed, Some((17, Some("exists".to_string()))));
    }

    #[test]
    fn an_error_without_tlvs_has_no_text() {
        let bytes = error_message(19, NlmF::CAPPED.bits(), &echoed_request(40, 0), &[]);
        assert_eq!(parse_error(&only_frame(&bytes)).unwrap(), Some((19, None)));
    }

    #[test]
    fn a_length_past_the_datagram_is_a_decode_error() {
        let mut bytes = error_message(0, 0, &echoed_request(16, 0), &[]);
        bytes[0] = 200;
        let mut frames = Frames::new(&bytes);
        assert!(matches!(frames.next(), Some(Err(NetlinkError::Decode(_)))));
        assert!(frames.next().is_none());
    }
}
