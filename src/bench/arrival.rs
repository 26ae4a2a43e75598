//! When the desk's bytes arrived at a bench client's socket, apart from
//! when the client's thread got round to reading them.
//!
//! The issues time the desk "to its event arriving at the operator's
//! socket" (and to the first quote "on the client's socket"). The bench's
//! operators and API clients share this machine's two cores with the desk
//! they measure, so the moment one of their threads reads a frame also
//! holds that thread's own wait for a core, which an operator on another
//! machine does not add to the desk. On Linux the kernel stamps each
//! segment as it reaches the receiving socket (`SO_TIMESTAMPNS`; over
//! loopback that is inside the desk's own `send`), and `recvmsg` hands
//! back the stamp of the newest segment it read. Every frame decoded from
//! that read or an earlier one had fully arrived by then, so "arrived at
//! the socket" is never earlier than the truth: a frame that came in an
//! earlier segment of the same read is counted as late as the last one.
//!
//! Elsewhere (no such stamp) a frame's arrival is the moment it was read.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The kernel's arrival stamp of the newest bytes read from one socket:
/// nanoseconds of the real-time clock, 0 before any.
#[derive(Debug, Default)]
pub(crate) struct LastArrival(AtomicI64);

impl LastArrival {
    /// The newest read's stamp; `None` when it had none (the kernel
    /// stamps only once timestamps are switched on system-wide, a moment
    /// after the first socket asks): its frames are then timed as read,
    /// never by an older read's stamp, which would be too early.
    // Only Linux's reads carry stamps to note.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn note(&self, realtime_ns: Option<i64>) {
        self.0.store(realtime_ns.unwrap_or(0), Ordering::Relaxed);
    }

    /// The newest stamp, if the socket gave one.
    pub(crate) fn latest(&self) -> Option<i64> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            stamp => Some(stamp),
        }
    }
}

/// A client's TCP stream that keeps the kernel's arrival stamp of what it
/// reads ([`LastArrival`]); writes pass straight through.
pub(crate) struct StampedStream {
    inner: TcpStream,
    last: Arc<LastArrival>,
}

impl StampedStream {
    /// Asks the kernel to stamp what reaches `inner` from now on. Where it
    /// cannot (not Linux, or the option refused), frames are simply timed
    /// as they are read.
    pub(crate) fn new(inner: TcpStream) -> (StampedStream, Arc<LastArrival>) {
        #[cfg(target_os = "linux")]
        if let Err(error) = linux::enable_stamps(&inner) {
            tracing::warn!(%error, "no receive timestamps: the bench times frames as they are read");
        }
        let last = Arc::new(LastArrival::default());
        (
            StampedStream {
                inner,
                last: last.clone(),
            },
            last,
        )
    }
}

impl AsyncRead for StampedStream {
    #[cfg(target_os = "linux")]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            std::task::ready!(this.inner.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let room = unfilled.len();
            // A read that did not fill the buffer emptied the socket: it
            // is kept here and reported to tokio as `WouldBlock`, so that
            // tokio clears the readiness it came with (as its own
            // `poll_read` does), rather than an extra `recvmsg` learning it.
            let mut short = None;
            let read =
                this.inner
                    .try_io(tokio::io::Interest::READABLE, || match linux::recv_stamped(
                        &this.inner,
                        unfilled,
                    )? {
                        (read, stamp) if read > 0 && read < room => {
                            short = Some((read, stamp));
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                        whole_or_end => Ok(whole_or_end),
                    });
            let (read, stamp) = match (read, short) {
                (_, Some(short)) => short,
                (Ok(read), None) => read,
                // Readiness was stale: `try_io` cleared it; wait again.
                (Err(error), None) if error.kind() == io::ErrorKind::WouldBlock => continue,
                (Err(error), None) => return Poll::Ready(Err(error)),
            };
            if read > 0 {
                this.last.note(stamp);
            }
            buf.advance(read);
            return Poll::Ready(Ok(()));
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StampedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Turns the kernel's real-time stamps into the bench's monotonic
/// moments. The two clocks are slewed together (NTP adjusts both), so
/// their offset moves only when the real-time clock is set; they are
/// paired again every [`Self::REPAIR`] to follow such a step, each time
/// from the closest of a few readings (a thread preempted between two
/// readings would otherwise pair them up to half its wait apart).
pub(crate) struct ArrivalClock {
    paired_at: Instant,
    realtime_ns: i64,
}

impl ArrivalClock {
    const REPAIR: Duration = Duration::from_secs(1);

    pub(crate) fn new() -> ArrivalClock {
        let (paired_at, realtime_ns) = pair_clocks();
        ArrivalClock {
            paired_at,
            realtime_ns,
        }
    }

    /// When a frame read at `read_at` arrived: its socket's newest stamp
    /// on the monotonic clock, never after the read (the clocks are
    /// paired to within a microsecond or two); `read_at` when there is
    /// no stamp.
    pub(crate) fn arrived(&mut self, last: &LastArrival, read_at: Instant) -> Instant {
        let Some(stamp) = last.latest() else {
            return read_at;
        };
        if read_at.saturating_duration_since(self.paired_at) > Self::REPAIR {
            (self.paired_at, self.realtime_ns) = pair_clocks();
        }
        let arrived = match stamp - self.realtime_ns {
            after if after >= 0 => self.paired_at + Duration::from_nanos(after as u64),
            before => self
                .paired_at
                .checked_sub(Duration::from_nanos(before.unsigned_abs()))
                .unwrap_or(self.paired_at),
        };
        arrived.min(read_at)
    }
}

/// The monotonic and real-time clocks read together: the real-time
/// reading between two monotonic ones, paired with their midpoint, from
/// the narrowest of a few tries.
fn pair_clocks() -> (Instant, i64) {
    let read_once = || {
        let before = Instant::now();
        let realtime = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let after = Instant::now();
        let width = after.saturating_duration_since(before);
        let realtime_ns = i64::try_from(realtime.as_nanos()).unwrap_or(i64::MAX);
        (width, before + width / 2, realtime_ns)
    };
    let (_, midpoint, realtime_ns) = (0..5)
        .map(|_| read_once())
        .min_by_key(|&(width, ..)| width)
        .unwrap_or_else(read_once);
    (midpoint, realtime_ns)
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::mem::size_of;
    use std::os::fd::AsRawFd;

    use tokio::net::TcpStream;

    /// `SO_TIMESTAMPNS` on: each segment reaching the socket is stamped.
    // The crate denies `unsafe` but where it pays: here two socket calls
    // the standard library does not offer (see SAFETY below).
    #[allow(unsafe_code)]
    pub(super) fn enable_stamps(socket: &TcpStream) -> io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: the descriptor is open for as long as `socket` is
        // borrowed, and the option's value is a live `c_int` of the size
        // passed.
        let done = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        match done {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// One `recvmsg` into `into`: the bytes read, and the arrival stamp of
    /// the newest segment among them (real-time nanoseconds), if any.
    #[allow(unsafe_code)]
    pub(super) fn recv_stamped(
        socket: &TcpStream,
        into: &mut [u8],
    ) -> io::Result<(usize, Option<i64>)> {
        let mut iov = libc::iovec {
            iov_base: into.as_mut_ptr().cast(),
            iov_len: into.len(),
        };
        // Room for one `SCM_TIMESTAMPNS` (a header and a `timespec`) and
        // then some, aligned for the headers.
        let mut control = [0u64; 16];
        // SAFETY: a zeroed `msghdr` is a valid empty one; every pointer
        // set in it points at a live local for the length given, and the
        // kernel writes at most those lengths.
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: as above; `MSG_DONTWAIT`: the socket is tokio's,
        // non-blocking, and `WouldBlock` goes back to its readiness.
        let read = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut message, libc::MSG_DONTWAIT) };
        if read < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut stamp = None;
        // SAFETY: the `CMSG_*` walk stays inside the control buffer the
        // kernel filled (`msg_controllen` now says how much), and a
        // timestamp's data is a `timespec`, read unaligned.
        unsafe {
            let mut header = libc::CMSG_FIRSTHDR(&message);
            while !header.is_null() {
                let holds_a_timespec = (*header).cmsg_len as usize
                    >= libc::CMSG_LEN(size_of::<libc::timespec>() as u32) as usize;
                if (*header).cmsg_level == libc::SOL_SOCKET
                    && (*header).cmsg_type == libc::SCM_TIMESTAMPNS
                    && holds_a_timespec
                {
                    let at: libc::timespec =
                        std::ptr::read_unaligned(libc::CMSG_DATA(header).cast());
                    // `time_t` and `c_long` are `i64` here but not on
                    // every Linux target.
                    #[allow(clippy::unnecessary_cast)]
                    let nanos = at.tv_sec as i64 * 1_000_000_000 + at.tv_nsec as i64;
                    stamp = Some(nanos);
                }
                header = libc::CMSG_NXTHDR(&message, header);
            }
        }
        Ok((read as usize, stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Bytes that waited in the socket before being read are timed at
    /// their arrival, not at the read; without a stamp, at the read.
    #[tokio::test]
    async fn a_frame_that_waited_in_the_socket_is_timed_at_its_arrival() {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let mut sender = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (receiver, _) = listener.accept().await.unwrap();
        let (mut receiver, last) = StampedStream::new(receiver);
        let mut clock = ArrivalClock::new();
        assert_eq!(last.latest(), None);
        let now = Instant::now();
        assert_eq!(clock.arrived(&last, now), now);
        let mut read = [0u8; 16];
        if cfg!(target_os = "linux") {
            // The kernel starts stamping a moment after timestamps are
            // first asked for (it switches them on system-wide from a
            // work queue): until then a read has no stamp.
            for _ in 0..1000 {
                sender.write_all(b"w").await.unwrap();
                receiver.read_exact(&mut read[..1]).await.unwrap();
                if last.latest().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }

        let sent_at = Instant::now();
        sender.write_all(b"hello").await.unwrap();
        // The receiver is busy elsewhere for a while (a real wait: the
        // kernel's stamp is on its real clock).
        std::thread::sleep(Duration::from_millis(30));
        let n = receiver.read(&mut read).await.unwrap();
        let read_at = Instant::now();
        assert_eq!(&read[..n], b"hello");
        let arrived = clock.arrived(&last, read_at);
        if cfg!(target_os = "linux") {
            assert!(last.latest().is_some(), "the kernel stamped the segment");
            // Within a few milliseconds of the send, ~30 ms before the read.
            assert!(
                arrived.saturating_duration_since(sent_at) < Duration::from_millis(5),
                "arrived {:?} after the send",
                arrived.saturating_duration_since(sent_at)
            );
            assert!(read_at.duration_since(arrived) >= Duration::from_millis(25));
        } else {
            assert_eq!(arrived, read_at);
        }
        // Writes pass through.
        receiver.write_all(b"back").await.unwrap();
        let n = sender.read(&mut read).await.unwrap();
        assert_eq!(&read[..n], b"back");
    }
}
