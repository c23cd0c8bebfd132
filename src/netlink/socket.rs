//! The rtnetlink socket: options, sequence numbers, framing, dumps until DONE, and batches of
//! requests sent in one `sendmsg` whose ACKs and errors are matched back by sequence number.

use super::error::NetlinkError;
use super::frame::{parse_error, Frames};
use crate::sys::{self, ZeroedPages};
use neli::{
    consts::{
        nl::{NlmF, Nlmsg},
        rtnl::Rtm,
        socket::{Msg, NlFamily},
    },
    nl::{NlPayload, NlmsghdrBuilder},
    socket::NlSocket,
    types::Buffer,
    utils::Groups,
    Size, ToBytes,
};
use std::{io, io::Cursor, os::unix::io::AsRawFd, time::Duration};

/// Requests of one batch are cut into `sendmsg` calls of at most this many bytes (about 340
/// address adds). The kernel applies a whole call before the thread can even be killed, and
/// with thousands of addresses on a link one 64 KiB call took up to a second: this size keeps
/// that uninterruptible stretch, and so the SIGTERM exit, well within the 1 s promise.
const MAX_BATCH_BYTES: usize = 16 * 1024;
/// Receive buffer; dump parts are at most 32 KiB and error replies echo only headers. Its
/// pages are resident only once the kernel writes to them (`ZeroedPages`).
const RECV_BUF_BYTES: usize = 64 * 1024;
/// Socket receive queue: room for the ACKs of a full batch (each costs a whole skb).
const SO_RCVBUF_BYTES: libc::c_int = 4 * 1024 * 1024;
/// The kernel always answers; this only bounds a wait that would otherwise be a hang.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);
/// Error replies echo only the request header, not its attributes (`NETLINK_CAP_ACK`).
const NETLINK_CAP_ACK: libc::c_int = 10;
const DUMP_ATTEMPTS: usize = 3;

/// One request: message type, flags (REQUEST and ACK are added) and the encoded rtnl payload.
pub(super) struct Request {
    pub ty: Rtm,
    pub flags: NlmF,
    pub payload: Vec<u8>,
}

/// Reads one dump's objects: the request, the message type of its replies, and the decoder
/// that turns one reply's rtnl payload into an object (`None`: not one we keep).
pub(super) struct Dump<T> {
    pub request: Rtm,
    pub payload: Vec<u8>,
    pub reply: Rtm,
    pub decode: fn(&[u8]) -> Result<Option<T>, NetlinkError>,
    /// Names the dump in its errors ("route dump").
    pub what: &'static str,
}

/// One request answered by one message (`RTM_GETROUTE` for a single destination): the
/// request, the message type of its answer and the decoder of that answer's rtnl payload.
pub(super) struct Query<T> {
    pub request: Rtm,
    pub payload: Vec<u8>,
    pub reply: Rtm,
    pub decode: fn(&[u8]) -> Result<T, NetlinkError>,
    /// Names the request in its errors ("route lookup 8.8.8.8 from 10.0.1.5").
    pub what: String,
}

pub(super) struct Socket {
    sock: NlSocket,
    pid: u32,
    seq: u32,
    buf: ZeroedPages,
}

/// Serializes an rtnl payload (`Ifaddrmsg`, `Rtmsg`, ...) for a [`Request`].
pub(super) fn encode<P: Size + ToBytes>(payload: &P) -> Result<Vec<u8>, NetlinkError> {
    let mut out = Cursor::new(Vec::with_capacity(payload.padded_size()));
    payload
        .to_bytes(&mut out)
        .map_err(|e| NetlinkError::Encode(format!("encoding request: {e}")))?;
    Ok(out.into_inner())
}

impl Socket {
    /// Wraps a configured neli socket with its port id and a receive buffer.
    fn with(sock: NlSocket) -> Result<Socket, NetlinkError> {
        let pid = sock
            .pid()
            .map_err(|e| NetlinkError::io("read port id", e))?;
        Ok(Socket {
            sock,
            pid,
            seq: 0,
            buf: ZeroedPages::new(RECV_BUF_BYTES)
                .map_err(|e| NetlinkError::io("map the receive buffer", e))?,
        })
    }

    /// A NETLINK_ROUTE socket in the calling thread's network namespace, with extended ACKs,
    /// strict dump checking, capped ACKs and a receive queue large enough for a batch.
    pub(super) fn open() -> Result<Socket, NetlinkError> {
        let sock = NlSocket::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| NetlinkError::io("open socket", e))?;
        sock.block()
            .map_err(|e| NetlinkError::io("set blocking", e))?;
        sock.enable_ext_ack(true)
            .map_err(|e| NetlinkError::io("enable extended ACK", e))?;
        sock.enable_strict_checking(true)
            .map_err(|e| NetlinkError::io("enable strict checking", e))?;
        set_int(&sock, libc::SOL_NETLINK, NETLINK_CAP_ACK, 1)
            .map_err(|e| NetlinkError::io("enable capped ACK", e))?;
        set_receive_queue(&sock)?;
        set_receive_timeout(&sock, RECV_TIMEOUT)
            .map_err(|e| NetlinkError::io("set receive timeout", e))?;
        Socket::with(sock)
    }

    /// A NETLINK_ROUTE socket subscribed to the multicast `groups` (raw RTNLGRP_* numbers), in
    /// the calling thread's network namespace, for reading events with [`Socket::next_datagram`].
    pub(super) fn subscribe(groups: &[u32]) -> Result<Socket, NetlinkError> {
        let sock = NlSocket::connect(NlFamily::Route, None, Groups::new_groups(groups))
            .map_err(|e| NetlinkError::io("subscribe to multicast groups", e))?;
        sock.block()
            .map_err(|e| NetlinkError::io("set blocking", e))?;
        set_receive_queue(&sock)?;
        Socket::with(sock)
    }

    /// The socket's descriptor, for polling it beside others.
    pub(super) fn raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }

    /// The next received datagram, waiting up to `timeout` (zero: only what is already
    /// queued); `None` when nothing came. ENOBUFS (events lost) is an `Io` error.
    pub(super) fn next_datagram(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<&[u8]>, NetlinkError> {
        if !self.readable(timeout)? {
            return Ok(None);
        }
        match self.receive_with(Msg::TRUNC | Msg::DONTWAIT) {
            Ok(len) => Ok(Some(&self.buf[..len])),
            Err(NetlinkError::Io { source, .. }) if source.kind() == io::ErrorKind::WouldBlock => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether a datagram (or an error) is waiting, after at most `timeout`; an interrupted
    /// wait counts as nothing waiting.
    fn readable(&self, timeout: Duration) -> Result<bool, NetlinkError> {
        let mut fd = libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
        match sys::poll(std::slice::from_mut(&mut fd), millis) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(NetlinkError::io("poll", e)),
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
        }
    }

    /// Every object a dump returns, decoded from the receive buffer as it arrives; the whole
    /// dump is read again when the kernel flags it interrupted.
    pub(super) fn dump<T>(&mut self, dump: &Dump<T>) -> Result<Vec<T>, NetlinkError> {
        let mut objects = Vec::new();
        for _ in 0..DUMP_ATTEMPTS {
            if self.dump_once(dump, &mut objects)? {
                return Ok(objects);
            }
        }
        Err(NetlinkError::Decode(format!(
            "{}: dump interrupted {DUMP_ATTEMPTS} times",
            dump.what
        )))
    }

    /// Sends one request and returns its decoded answer, or the kernel's error for it.
    pub(super) fn query<T>(&mut self, query: &Query<T>) -> Result<T, NetlinkError> {
        let seq = self.next_seq();
        let mut out = Cursor::new(Vec::new());
        frame(query.request, NlmF::REQUEST, seq, &query.payload, &mut out)?;
        self.sock
            .send(out.get_ref(), Msg::empty())
            .map_err(|e| NetlinkError::io("send", e))?;
        let reply = u16::from(query.reply);
        loop {
            let len = self.receive()?;
            for frame in Frames::new(&self.buf[..len]) {
                let frame = frame?;
                if frame.seq != seq || frame.pid != self.pid {
                    continue;
                }
                if frame.ty == reply {
                    return (query.decode)(frame.body);
                }
                if frame.ty == u16::from(Nlmsg::Error) {
                    return Err(match parse_error(&frame)? {
                        Some((errno, ext_ack)) => {
                            NetlinkError::from_kernel(errno, query.what.clone(), ext_ack)
                        }
                        None => NetlinkError::Decode(format!("{}: no answer", query.what)),
                    });
                }
            }
        }
    }

    /// Sends every request (as few `sendmsg` calls as the size cap allows) and returns one
    /// result per request, in order. `describe(i)` names request `i` in its error.
    pub(super) fn batch(
        &mut self,
        requests: &[Request],
        describe: &dyn Fn(usize) -> String,
    ) -> Vec<Result<(), NetlinkError>> {
        let mut results = Vec::with_capacity(requests.len());
        let mut start = 0;
        while start < requests.len() {
            let (bytes, count) = match self.serialize_chunk(&requests[start..]) {
                Ok(chunk) => chunk,
                Err(e) => {
                    results.push(Err(e));
                    start += 1;
                    continue;
                }
            };
            let first_seq = self.seq.wrapping_sub(count as u32).wrapping_add(1);
            let describe_chunk = |i: usize| describe(start + i);
            results.extend(self.exchange(&bytes, first_seq, count, &describe_chunk));
            start += count;
        }
        results
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Frames requests into one buffer until the size cap; fails only on the first request.
    fn serialize_chunk(&mut self, requests: &[Request]) -> Result<(Vec<u8>, usize), NetlinkError> {
        let mut out = Cursor::new(Vec::new());
        let mut count = 0;
        for request in requests {
            let position = out.position();
            let seq = self.seq.wrapping_add(1);
            let flags = request.flags | NlmF::REQUEST | NlmF::ACK;
            match frame(request.ty, flags, seq, &request.payload, &mut out) {
                Ok(()) if out.get_ref().len() <= MAX_BATCH_BYTES || count == 0 => {}
                Ok(()) => {
                    out.get_mut().truncate(position as usize);
                    break;
                }
                Err(e) if count == 0 => return Err(e),
                Err(_) => break,
            }
            self.next_seq();
            count += 1;
        }
        Ok((out.into_inner(), count))
    }

    /// Sends one chunk and collects the `count` answers with sequence numbers from `first_seq`.
    fn exchange(
        &mut self,
        bytes: &[u8],
        first_seq: u32,
        count: usize,
        describe: &dyn Fn(usize) -> String,
    ) -> Vec<Result<(), NetlinkError>> {
        let mut answers: Vec<Option<Result<(), NetlinkError>>> = (0..count).map(|_| None).collect();
        let mut pending = count;
        if let Err(e) = self.sock.send(bytes, Msg::empty()) {
            return fail_all(answers, &NetlinkError::io("send", e));
        }
        while pending > 0 {
            let len = match self.receive() {
                Ok(len) => len,
                Err(e) => return fail_all(answers, &e),
            };
            for frame in Frames::new(&self.buf[..len]) {
                let frame = match frame {
                    Ok(frame) => frame,
                    Err(e) => return fail_all(answers, &e),
                };
                let index = frame.seq.wrapping_sub(first_seq) as usize;
                if frame.ty != u16::from(Nlmsg::Error) || frame.pid != self.pid || index >= count {
                    continue;
                }
                if answers[index].is_none() {
                    pending -= 1;
                }
                answers[index] = Some(match parse_error(&frame) {
                    Ok(None) => Ok(()),
                    Ok(Some((errno, ext_ack))) => {
                        Err(NetlinkError::from_kernel(errno, describe(index), ext_ack))
                    }
                    Err(e) => Err(e),
                });
            }
        }
        answers.into_iter().map(|a| a.unwrap_or(Ok(()))).collect()
    }

    /// One dump attempt into `objects` (emptied first): false when the kernel marked it
    /// interrupted. A reply that does not decode fails the dump, but only after the rest of it
    /// has been read, so the socket is ready for the next request.
    fn dump_once<T>(&mut self, dump: &Dump<T>, objects: &mut Vec<T>) -> Result<bool, NetlinkError> {
        objects.clear();
        let seq = self.next_seq();
        let mut out = Cursor::new(Vec::new());
        frame(
            dump.request,
            NlmF::REQUEST | NlmF::DUMP,
            seq,
            &dump.payload,
            &mut out,
        )?;
        self.sock
            .send(out.get_ref(), Msg::empty())
            .map_err(|e| NetlinkError::io("send", e))?;
        let reply = u16::from(dump.reply);
        let mut interrupted = false;
        let mut undecodable = None;
        loop {
            let len = self.receive()?;
            for frame in Frames::new(&self.buf[..len]) {
                let frame = frame?;
                if frame.seq != seq || frame.pid != self.pid {
                    continue;
                }
                interrupted |= frame.flags & NlmF::DUMP_INTR.bits() != 0;
                let last =
                    frame.ty == u16::from(Nlmsg::Done) || frame.ty == u16::from(Nlmsg::Error);
                if frame.ty == u16::from(Nlmsg::Error) {
                    if let Some((errno, ext_ack)) = parse_error(&frame)? {
                        let what = dump.what.to_string();
                        return Err(NetlinkError::from_kernel(errno, what, ext_ack));
                    }
                }
                if last {
                    return undecodable.map_or(Ok(!interrupted), Err);
                }
                if frame.ty == reply && undecodable.is_none() {
                    match (dump.decode)(frame.body) {
                        Ok(Some(object)) => objects.push(object),
                        Ok(None) => {}
                        Err(e) => undecodable = Some(e),
                    }
                }
            }
        }
    }

    /// Receives one datagram into the buffer; a truncated one is an error, not a silent loss.
    fn receive(&mut self) -> Result<usize, NetlinkError> {
        self.receive_with(Msg::TRUNC)
    }

    fn receive_with(&mut self, flags: Msg) -> Result<usize, NetlinkError> {
        let (len, _) = self
            .sock
            .recv(&mut self.buf[..], flags)
            .map_err(|e| NetlinkError::io("receive", e))?;
        if len > self.buf.len() {
            return Err(NetlinkError::Decode(format!(
                "reply of {len} bytes exceeds the {} byte buffer",
                self.buf.len()
            )));
        }
        Ok(len)
    }
}

/// Appends one netlink message (header, payload, padding) to `out`.
fn frame(
    ty: Rtm,
    flags: NlmF,
    seq: u32,
    payload: &[u8],
    out: &mut Cursor<Vec<u8>>,
) -> Result<(), NetlinkError> {
    let msg = NlmsghdrBuilder::default()
        .nl_type(ty)
        .nl_flags(flags)
        .nl_seq(seq)
        .nl_payload(NlPayload::Payload(Buffer::from(payload)))
        .build()
        .map_err(|e| NetlinkError::Encode(format!("building message: {e}")))?;
    msg.to_bytes(out)
        .map_err(|e| NetlinkError::Encode(format!("encoding message: {e}")))
}

fn fail_all(
    answers: Vec<Option<Result<(), NetlinkError>>>,
    error: &NetlinkError,
) -> Vec<Result<(), NetlinkError>> {
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(error.duplicate())))
        .collect()
}

fn set_int(
    sock: &NlSocket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    sys::set_socket_option(sock.as_raw_fd(), level, name, &value)
}

/// SO_RCVBUFFORCE (allowed with CAP_NET_ADMIN) past rmem_max; plain SO_RCVBUF otherwise.
fn set_receive_queue(sock: &NlSocket) -> Result<(), NetlinkError> {
    set_int(
        sock,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        SO_RCVBUF_BYTES,
    )
    .or_else(|_| set_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUF, SO_RCVBUF_BYTES))
    .map_err(|e| NetlinkError::io("set receive buffer", e))
}

fn set_receive_timeout(sock: &NlSocket, timeout: Duration) -> io::Result<()> {
    // `as _` follows each libc's field types (musl's time_t and suseconds_t are changing).
    let tv = libc::timeval {
        tv_sec: timeout.as_secs().min(86_400) as _,
        tv_usec: timeout.subsec_micros() as _,
    };
    sys::set_socket_option(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{decode, link};

    fn link_dump<T>(decode: fn(&[u8]) -> Result<Option<T>, NetlinkError>) -> Dump<T> {
        Dump {
            request: Rtm::Getlink,
            payload: link::dump_request().unwrap(),
            reply: Rtm::Newlink,
            decode,
            what: "link dump",
        }
    }

    /// A fresh socket's first dump datagram holds one page (two or three links here), so the
    /// link dump of this machine's namespace (no privilege needed) spans several datagrams:
    /// had the failed dump been left unread, the next one would be refused with EBUSY.
    #[test]
    fn a_dump_that_fails_to_decode_is_read_to_its_end_and_the_socket_stays_usable() {
        let mut socket = Socket::open().unwrap();
        let refusing = link_dump::<()>(|_| Err(NetlinkError::Decode("refused".to_string())));
        match socket.dump(&refusing) {
            Err(NetlinkError::Decode(text)) => assert_eq!(text, "refused"),
            other => panic!("expected the decoder's error, got {other:?}"),
        }
        let links = socket
            .dump(&link_dump(|b| decode::link(b).map(Some)))
            .unwrap();
        assert!(links.iter().any(|l| l.loopback), "{links:?}");
    }
}
