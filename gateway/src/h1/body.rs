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
    /// In the trailer section, this many bytes of it consumed.
    Trailers(usize),
    Done,
}

/// Finds where a chunked body ends while its bytes are relayed unchanged, and refuses any framing a
/// client could read differently.
///
/// Hand-written, not `httparse::parse_chunk_size`: httparse accepts any byte in a chunk extension
/// (a bare LF included) and an empty size, which is right for a server reading its own input but not for
/// a proxy that passes the bytes on: a lenient client would split the message elsewhere. Here every
/// line (size lines and trailer lines) must end in CRLF with no other CR or LF, sizes are 1-15 hex digits,
/// extensions hold only visible ASCII, space and tab (RFC 9112 §7.1), and trailer lines are
/// `name: value` with a token name (no obs-fold). Anything else ends the relay and closes both
/// connections.
#[derive(Debug, Default)]
pub struct Chunked {
    state: State,
}

/// A complete line at the start of `buf`: its length with the CRLF, or `None` while it is incomplete.
/// A bare CR or LF anywhere in it is an error.
fn crlf_line(buf: &[u8], max: usize) -> Result<Option<usize>, BodyError> {
    match memchr::memchr(b'\n', buf) {
        None if buf.len() > max => Err(BodyError::Chunked),
        None => {
            // A CR that is not the last byte read so far is already a bare CR.
            match memchr::memchr(b'\r', buf) {
                Some(i) if i + 1 < buf.len() => Err(BodyError::Chunked),
                _ => Ok(None),
            }
        }
        Some(lf) => {
            let line = &buf[..lf];
            if lf > max || line.last() != Some(&b'\r') || line[..lf - 1].contains(&b'\r') {
                return Err(BodyError::Chunked);
            }
            Ok(Some(lf + 1))
        }
    }
}

/// `chunk-size [chunk-ext] CRLF`: the line's length and the size.
fn size_line(buf: &[u8]) -> Result<Option<(usize, u64)>, BodyError> {
    let Some(n) = crlf_line(buf, MAX_SIZE_LINE)? else {
        return Ok(None);
    };
    let line = &buf[..n - 2];
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return Err(BodyError::Chunked);
    }
    let ext = &line[digits..];
    let ext_ok = ext.is_empty()
        || (ext.trim_ascii_start().starts_with(b";")
            && ext
                .iter()
                .all(|&b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b)));
    if !ext_ok {
        return Err(BodyError::Chunked);
    }
    let size = u64::from_str_radix(std::str::from_utf8(&line[..digits]).unwrap_or("x"), 16)
        .map_err(|_| BodyError::Chunked)?;
    Ok(Some((n, size)))
}

/// One trailer line without its CRLF: `token ":" value`, visible ASCII, space and tab only.
fn trailer_line_ok(line: &[u8]) -> bool {
    let Some(colon) = memchr::memchr(b':', line) else {
        return false;
    };
    let name_ok = colon > 0
        && line[..colon]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    name_ok
        && line[colon + 1..]
            .iter()
            .all(|&b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b) || b >= 0x80)
}

impl Chunked {
    /// How many leading bytes of `buf` belong to the body (all of them unless it ends inside `buf`, fewer
    /// when a size line or a trailer line is incomplete), and whether the body is complete.
    pub fn scan(&mut self, buf: &[u8]) -> Result<(usize, bool), BodyError> {
        let mut i = 0;
        loop {
            let rest = &buf[i..];
            match self.state {
                State::Done => return Ok((i, true)),
                State::Size => match size_line(rest)? {
                    Some((n, size)) => {
                        i += n;
                        self.state = if size == 0 {
                            State::Trailers(0)
                        } else {
                            State::Data(size)
                        };
                    }
                    None => return Ok((i, false)),
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
                        if rest.first().is_some_and(|&b| b != b'\r') {
                            return Err(BodyError::Chunked);
                        }
                        return Ok((i, false));
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(BodyError::Chunked);
                    }
                    i += 2;
                    self.state = State::Size;
                }
                State::Trailers(seen) => {
                    let room = MAX_TRAILERS.saturating_sub(seen);
                    let Some(n) = crlf_line(rest, room)? else {
                        return Ok((i, false));
                    };
                    if seen + n > MAX_TRAILERS {
                        return Err(BodyError::Chunked);
                    }
                    i += n;
                    self.state = if n == 2 {
                        State::Done
                    } else if trailer_line_ok(&rest[..n - 2]) {
                        State::Trailers(seen + n)
                    } else {
                        return Err(BodyError::Chunked);
                    };
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
        let bodies: [&[u8]; 4] = [
            b"5\r\nhello\r\n0\r\n\r\n",
            b"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Sum: 9\r\nX-B: 2\r\n\r\n",
            b"0\r\n\r\n",
            b"A ; name=\"quoted value\"\r\n0123456789\r\n000\r\n\r\n",
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
        let many_trailers = [
            b"0\r\n".as_slice(),
            &b"X: 1\r\n".repeat(MAX_TRAILERS / 6 + 1),
        ]
        .concat();
        let bad: &[&[u8]] = &[
            b"zz\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"ffffffffffffffffffff\r\n",
            &long_trailer,
            &many_trailers,
            // A bare LF inside a chunk extension: a lenient client ends the size line there.
            b"5;a=\nb\r\nhello\r\n0\r\n\r\n",
            b"5;a\rb\r\nhello\r\n0\r\n\r\n",
            // No size at all (httparse reads it as 0, the last chunk).
            b"\r\n",
            b";x\r\n\r\n",
            // Trailers that end at `\n\r\n`: the bytes after them would be a second response.
            b"0\r\nX: 1\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            b"0\r\nX: 1\r\n\nHTTP/1.1 200 OK\r\n\r\n",
            // Obs-fold, a line that is no header, a bare CR in a trailer.
            b"0\r\nX: 1\r\n continued\r\n\r\n",
            b"0\r\nnot a header\r\n\r\n",
            b"0\r\nX: a\rb\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
        ];
        for body in bad {
            let steps = if body.len() < 256 { 1 } else { body.len() };
            for step in steps..=body.len() {
                assert!(
                    matches!(scan_in_steps(body, step), Err(BodyError::Chunked)),
                    "step {step}: {:?}",
                    String::from_utf8_lossy(&body[..40.min(body.len())])
                );
            }
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
