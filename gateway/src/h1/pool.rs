//! The fast path's idle upstream connections (plain TCP with their read buffer), one pool per worker.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::net::TcpStream;

use crate::apis::ApiRoute;
use crate::error::GwError;
use crate::proxy::upstream::{connect_tcp, IdlePool};

/// An upstream connection and the bytes read from it but not yet relayed.
pub struct UpConn {
    /// The socket.
    pub stream: TcpStream,
    /// Read buffer.
    pub buf: BytesMut,
    /// Taken from the pool (it may have been closed by the upstream while idle).
    pub reused: bool,
}

thread_local! {
    static POOL: IdlePool<UpConn> = IdlePool::default();
}

/// A connection to the route's upstream: an idle one that still looks open, else a new one.
pub async fn checkout(route: &ApiRoute, allow_idle: bool) -> Result<UpConn, GwError> {
    if allow_idle {
        // `try_read` costs no system call unless the socket became readable while idle, which on an
        // idle HTTP/1 connection means the upstream closed it (or broke protocol): drop those.
        let idle = POOL.with(|p| {
            p.take(&route.pool_key, |c| {
                matches!(c.stream.try_read(&mut [0u8; 1]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            })
        });
        if let Some(mut c) = idle {
            c.reused = true;
            return Ok(c);
        }
    }
    Ok(UpConn {
        stream: connect_tcp(route).await?,
        buf: BytesMut::with_capacity(super::body::READ_CHUNK),
        reused: false,
    })
}

/// Return a connection whose last response was read exactly to its end.
pub fn checkin(key: &Arc<str>, conn: UpConn) {
    if conn.buf.is_empty() {
        POOL.with(|p| p.put(key, conn));
    }
}
