//! One connection, from its first byte to its close: HTTP/1.1, or HTTP/2 for OTLP over gRPC.
//! Over TLS, ALPN says which; in the clear, whether the client opens with HTTP/2's preface.
//! Either way the client has the read timeout to say anything at all, so a connection that
//! stays silent is closed (hyper's own header timeout starts only once HTTP/1 is chosen).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::routes::App;

/// What an HTTP/2 client sends first (RFC 9113, section 3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How often a connection that has sent part of the preface is looked at again.
const PREFACE_POLL: Duration = Duration::from_millis(5);

/// Serves one accepted connection until it closes or the server shuts down.
pub async fn serve(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    app: Arc<App>,
    read_timeout: Duration,
    watcher: Watcher,
) {
    match acceptor {
        None => {
            if let Ok(Ok(http2)) =
                tokio::time::timeout(read_timeout, opens_with_http2(&stream)).await
            {
                run(stream, http2, app, read_timeout, watcher).await;
            }
        }
        Some(acceptor) => {
            // The handshake, too, must be done within the read timeout.
            if let Ok(Ok(stream)) =
                tokio::time::timeout(read_timeout, acceptor.accept(stream)).await
            {
                let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                run(stream, http2, app, read_timeout, watcher).await;
            }
        }
    }
}

/// Whether the client's first bytes are HTTP/2's preface; waits for them.
async fn opens_with_http2(stream: &TcpStream) -> std::io::Result<bool> {
    let mut start = [0u8; HTTP2_PREFACE.len()];
    loop {
        let read = stream.peek(&mut start).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if !HTTP2_PREFACE.starts_with(&start[..read]) {
            return Ok(false);
        }
        if read == HTTP2_PREFACE.len() {
            return Ok(true);
        }
        // Part of the preface: peek returns at once while those bytes wait, so pause.
        tokio::time::sleep(PREFACE_POLL).await;
    }
}

async fn run<I>(io: I, http2: bool, app: Arc<App>, read_timeout: Duration, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Infallible>(app.handle(request).await) }
    });
    let io = TokioIo::new(io);
    if http2 {
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(read_timeout))
            .keep_alive_timeout(read_timeout);
        let _ = watcher.watch(builder.serve_connection(io, service)).await;
    } else {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(read_timeout);
        let _ = watcher.watch(builder.serve_connection(io, service)).await;
    }
}
