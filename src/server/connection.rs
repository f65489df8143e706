//! One connection, from its first byte to its close: HTTP/1.1, or HTTP/2 for OTLP over gRPC.
//! Over TLS, ALPN says which; in the clear, whether the client opens with HTTP/2's preface.
//! Either way the client has the read timeout to say anything at all, so a connection that
//! stays silent is closed (hyper's own header timeout starts only once HTTP/1 is chosen). An
//! HTTP/2 connection with no request in flight for the read timeout is closed too: hyper
//! keeps one open for as long as the client answers its pings.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    let client = stream.peer_addr().ok();
    let connection = Connection {
        app,
        client,
        read_timeout,
        watcher,
    };
    match acceptor {
        None => {
            if let Ok(Ok(http2)) =
                tokio::time::timeout(read_timeout, opens_with_http2(&stream)).await
            {
                run(stream, http2, connection).await;
            }
        }
        Some(acceptor) => {
            // The handshake, too, must be done within the read timeout.
            if let Ok(Ok(stream)) =
                tokio::time::timeout(read_timeout, acceptor.accept(stream)).await
            {
                let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                run(stream, http2, connection).await;
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

/// What serving one connection needs.
struct Connection {
    app: Arc<App>,
    /// The peer's address, for the request log.
    client: Option<SocketAddr>,
    read_timeout: Duration,
    watcher: Watcher,
}

async fn run<I>(io: I, http2: bool, connection: Connection)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Connection {
        app,
        client,
        read_timeout,
        watcher,
    } = connection;
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = Arc::clone(&activity);
        hyper::service::service_fn(move |request| {
            let app = Arc::clone(&app);
            let activity = Arc::clone(&activity);
            async move {
                let _in_flight = InFlight::begin(activity);
                Ok::<_, Infallible>(app.handle(request, client).await)
            }
        })
    };
    let io = TokioIo::new(io);
    if http2 {
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(read_timeout))
            .keep_alive_timeout(read_timeout);
        let served = watcher.watch(builder.serve_connection(io, service));
        // With no request in flight nothing is lost when the connection is dropped.
        tokio::select! {
            _ = served => {}
            () = activity.idle_for(read_timeout) => {}
        }
    } else {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(read_timeout);
        let _ = watcher.watch(builder.serve_connection(io, service)).await;
    }
}

/// A request in flight on a connection, until it is answered or dropped (a client that reset
/// its stream).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        *self
            .0
            .last_ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection's requests in flight, and when the last one ended.
struct Activity {
    in_flight: AtomicUsize,
    last_ended: Mutex<Instant>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            last_ended: Mutex::new(Instant::now()),
        }
    }

    /// Returns once no request has been in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = *self
                .last_ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let busy = self.in_flight.load(Ordering::SeqCst) > 0;
            if !busy && last.elapsed() >= limit {
                return;
            }
            let wait = if busy {
                limit
            } else {
                limit.saturating_sub(last.elapsed())
            };
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }
}
