//! Body framing on the fast path: relaying exactly one message body from one socket to another.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest wait for the next body bytes before the exchange is abandoned (a stalled peer must not
/// hold a connection forever).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes asked of the kernel per read.
pub const READ_CHUNK: usize = 16 * 1024;
/// Longest chunk-size line (with extensions) accepted.
const MAX_SIZE_LINE: usize = 4096;
/// Largest trailer section accepted.
const MAX_TRAILERS: usize = 16 * 1024;

/// Why a body could not be relayed; the connections involved are closed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The chunked framing is malformed (or a size line or the trailers are too long).
    #[error("malformed chunked body")]
    Chunked,
    /// The sender closed before the body ended.
    #[error("body ended early")]
    Truncated,
    /// The sender sent nothing for [`IDLE_TIMEOUT`].
    #[error("no body bytes for {0:?}")]
    Stalled(Duration),
    /// A read or write failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Default, Clone, Copy)]
enum State {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Finds where a chunked body ends while its bytes are relayed unchanged (chunk sizes parsed by
/// `httparse::parse_chunk_size`; the state machine is the few lines below).
#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
}

impl Chunked {
    /// How many leading bytes of `buf` belong to the body (all of them unless it ends inside `buf`, fewer
    /// when a size line or the trailers are incomplete), and whether the body is complete.
    pub fn scan(&mut self, buf: &[u8]) -> Result<(usize, bool), BodyError> {
        let mut i = 0;
        loop {
            let rest = &buf[i..];
            match self.state {
                State::Done => return Ok((i, true)),
                State::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        i += n;
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if rest.len() <= MAX_SIZE_LINE => {
                        return Ok((i, false))
                    }
                    _ => return Err(BodyError::Chunked),
                },
                State::Data(left) => {
                    let take = left.min(rest.len() as u64);
                    i += take as usize;
                    if take < left {
                        self.state = State::Data(left - take);
                        return Ok((i, false));
                    }
                    self.state = State::DataEnd;
                }
                State::DataEnd => {
                    if rest.len() < 2 {
                        return Ok((i, false));
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(BodyError::Chunked);
                    }
                    i += 2;
                    self.state = State::Size;
                }
                State::Trailers => {
                    let end = if rest.starts_with(b"\r\n") {
                        Some(2)
                    } else {
                        memchr::memmem::find(rest, b"\r\n\r\n").map(|p| p + 4)
                    };
                    match end {
                        Some(n) => {
                            i += n;
                            self.state = State::Done;
                        }
                        None if rest.len() <= MAX_TRAILERS => return Ok((i, false)),
                        None => return Err(BodyError::Chunked),
                    }
                }
            }
        }
    }
}

/// What is left of a body to relay.
#[derive(Debug)]
pub enum Remaining {
    /// This many bytes.
    Length(u64),
    /// A chunked body, relayed unchanged.
    Chunked(Chunked),
    /// Everything until the sender closes.
    UntilClose,
}

/// Relay the rest of a body: `buf` holds what was already read from `src`. `prefix` (a head, possibly
/// empty) goes out in the same write as the first body bytes. On success `buf` holds only bytes read
/// past the body's end.
pub async fn relay<R, W>(
    mut left: Remaining,
    src: &mut R,
    buf: &mut BytesMut,
    dst: &mut W,
    prefix: &mut Vec<u8>,
) -> Result<(), BodyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let (n, done) = match &mut left {
            Remaining::Length(l) => {
                let n = (*l).min(buf.len() as u64);
                *l -= n;
                (n as usize, *l == 0)
            }
            Remaining::Chunked(c) => c.scan(buf)?,
            Remaining::UntilClose => (buf.len(), false),
        };
        if prefix.is_empty() {
            if n > 0 {
                dst.write_all(&buf[..n]).await?;
            }
        } else {
            prefix.extend_from_slice(&buf[..n]);
            dst.write_all(prefix).await?;
            prefix.clear();
        }
        buf.advance(n);
        if done {
            return Ok(());
        }
        buf.reserve(READ_CHUNK);
        let read = tokio::time::timeout(IDLE_TIMEOUT, src.read_buf(buf))
            .await
            .map_err(|_| BodyError::Stalled(IDLE_TIMEOUT))?;
        if read? == 0 {
            return match left {
                Remaining::UntilClose => Ok(()),
                _ => Err(BodyError::Truncated),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `body` to the scanner in pieces of `step` bytes, as reads would deliver it.
    fn scan_in_steps(body: &[u8], step: usize) -> Result<usize, BodyError> {
        let mut c = Chunked::default();
        let (mut consumed, mut have) = (0, 0);
        loop {
            have = (have + step).min(body.len());
            let (n, done) = c.scan(&body[consumed..have])?;
            consumed += n;
            if done {
                return Ok(consumed);
            }
            if have == body.len() {
                return Err(BodyError::Truncated);
            }
        }
    }

    #[test]
    fn chunked_end_is_found_whatever_the_read_boundaries() {
        let bodies: [&[u8]; 3] = [
            b"5\r\nhello\r\n0\r\n\r\n",
            b"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Sum: 9\r\nX-B: 2\r\n\r\n",
            b"0\r\n\r\n",
        ];
        for body in bodies {
            let mut with_next = body.to_vec();
            with_next.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            for step in 1..=with_next.len() {
                assert_eq!(
                    scan_in_steps(&with_next, step).unwrap(),
                    body.len(),
                    "step {step}"
                );
            }
        }
    }

    #[test]
    fn malformed_or_unbounded_chunked_bodies_are_refused() {
        let long_trailer = [b"0\r\nX: ".as_slice(), &[b'a'; MAX_TRAILERS + 10]].concat();
        let bad: [&[u8]; 4] = [
            b"zz\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"ffffffffffffffffffff\r\n",
            &long_trailer,
        ];
        for body in bad {
            assert!(
                scan_in_steps(body, body.len()).is_err(),
                "{:?}",
                String::from_utf8_lossy(&body[..20.min(body.len())])
            );
        }
        assert!(matches!(
            scan_in_steps(b"5\r\nhel", 3),
            Err(BodyError::Truncated)
        ));
    }

    #[tokio::test]
    async fn relay_sends_head_and_body_then_leaves_the_next_message() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let mut buf = BytesMut::from(&b"abc"[..]);
        let writer = tokio::spawn(async move {
            a.write_all(b"defgNEXT").await.unwrap();
            a
        });
        let mut out = Vec::new();
        let mut prefix = b"HEAD|".to_vec();
        relay(
            Remaining::Length(7),
            &mut b,
            &mut buf,
            &mut out,
            &mut prefix,
        )
        .await
        .unwrap();
        let _ = writer.await.unwrap();
        assert_eq!(out, b"HEAD|abcdefg");
        assert_eq!(&buf[..], b"NEXT");
        let mut short = BytesMut::from(&b"ab"[..]);
        let (c, mut d) = tokio::io::duplex(64);
        drop(c);
        let err = relay(
            Remaining::Length(5),
            &mut d,
            &mut short,
            &mut Vec::new(),
            &mut Vec::new(),
        )
        .await;
        assert!(matches!(err, Err(BodyError::Truncated)));
    }
}
