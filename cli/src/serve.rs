//! `pinpipe serve`: the ingest-api handler over plain HTTP/1.1 on 127.0.0.1, so that curl, the
//! emulator and the original Python script can post without AWS.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use clap::Args;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use pinpipe::config::{AwsConfig, IngestConfig, KafkaConnection};
use pinpipe::ingest::MAX_BODY_BYTES;
use pinpipe::routes::{StreamNames, StreamRoutes, TopicRoutes};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::CliError;

#[derive(Debug, Args)]
pub struct Serve {
    /// The port on 127.0.0.1 (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Kafka bootstrap brokers for the topic endpoints (host:port,…); without them (or
    /// --msk-cluster-arn) topics answer 503.
    #[arg(long)]
    brokers: Option<String>,
    /// Look the brokers up from an MSK cluster (the bootstrap string of --kafka-auth).
    #[arg(long)]
    msk_cluster_arn: Option<String>,
    /// plaintext, tls, sasl-scram (credentials from PINPIPE_KAFKA_USERNAME / PINPIPE_KAFKA_PASSWORD
    /// or the secret PINPIPE_KAFKA_SECRET_ID) or iam (MSK IAM, the AWS credentials of the
    /// environment). Default: PINPIPE_KAFKA_AUTH, else plaintext.
    #[arg(long)]
    kafka_auth: Option<String>,
    /// A PEM file of the CA that signed the brokers' certificates (TLS modes).
    #[arg(long)]
    kafka_ca_location: Option<String>,
    /// Extra librdkafka settings, key=value,… (they win).
    #[arg(long, default_value = "")]
    kafka_settings: String,
    /// `topic=table` pairs for topics not named <prefix>.<table>.
    #[arg(long, default_value = "")]
    topic_tables: String,
    /// `stream=table` pairs for streams not named streaming-<prefix>-<table>.
    #[arg(long, default_value = "")]
    stream_tables: String,
    /// `public=physical` stream names: a request for a public name is put into its stream (a
    /// stack's streams carry its stage). Default: PINPIPE_KINESIS_STREAMS, else none.
    #[arg(long)]
    kinesis_streams: Option<String>,
    /// Seconds a client has to send a request's head once the server waits for one — on a new
    /// connection and on a kept-alive one between requests. A head left partial is answered 408; a
    /// connection that sent nothing is closed.
    #[arg(long, default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body once its head arrived; then 408.
    #[arg(long, default_value_t = 30)]
    body_timeout_secs: u64,
    /// Connections served at once; one more is answered 503 (50303) and closed.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
}

/// How long `pinpipe serve` waits on a client, and for how many.
#[derive(Clone, Copy, Debug)]
struct Patience {
    header: Duration,
    body: Duration,
    max_connections: usize,
}

pub fn serve(args: Serve, stderr: &mut dyn Write) -> Result<(), CliError> {
    // the environment's Kafka settings (PINPIPE_KAFKA_*), then the arguments
    let env = pinpipe::config::env;
    let mut kafka = KafkaConnection::from_lookup(&|k: &str| match k {
        "PINPIPE_KAFKA_AUTH" => args.kafka_auth.clone().or_else(|| env(k)),
        _ => env(k),
    })?;
    if args.brokers.is_some() {
        kafka.brokers = args.brokers.clone();
    }
    if args.msk_cluster_arn.is_some() {
        kafka.msk_cluster_arn = args.msk_cluster_arn.clone();
    }
    if args.kafka_ca_location.is_some() {
        kafka.ca_location = args.kafka_ca_location.clone();
    }
    kafka
        .settings
        .extend(IngestConfig::kafka_settings(&args.kafka_settings)?);
    let config = IngestConfig {
        kafka,
        topics: TopicRoutes::parse(&args.topic_tables)?,
        streams: StreamRoutes::parse(&args.stream_tables)?,
        stream_names: StreamNames::parse(
            &args
                .kinesis_streams
                .clone()
                .or_else(|| env("PINPIPE_KINESIS_STREAMS"))
                .unwrap_or_default(),
        )?,
        aws: AwsConfig::from_env(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let state = ingest_api::State::new(&config)
            .await
            .map_err(|e| pinpipe::Error::config_from("starting the function", e))?;
        let state: &'static ingest_api::State = Box::leak(Box::new(state));
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
        writeln!(
            stderr,
            "pinpipe: ingest API on http://{}",
            listener.local_addr()?
        )?;
        stderr.flush()?;
        let patience = Patience {
            header: Duration::from_secs(args.header_timeout_secs),
            body: Duration::from_secs(args.body_timeout_secs),
            max_connections: args.max_connections,
        };
        let places = Arc::new(Semaphore::new(patience.max_connections));
        loop {
            let (stream, _) = listener.accept().await?;
            match Arc::clone(&places).try_acquire_owned() {
                Ok(place) => {
                    tokio::spawn(async move {
                        serve_connection(state, stream, patience).await;
                        drop(place);
                    });
                }
                Err(_) => {
                    tokio::spawn(refuse_busy(stream, patience.max_connections));
                }
            }
        }
    })
}

/// Serves one connection until the client closes it, or is too slow: hyper closes a connection
/// whose request head does not arrive within `patience.header` (its timer runs whenever hyper
/// waits for a head, so it is the keep-alive idle timeout too); a head left partial then hears 408
/// on a second handle of the socket.
async fn serve_connection(
    state: &'static ingest_api::State,
    stream: TcpStream,
    patience: Patience,
) {
    let Some((stream, spare)) = with_spare(stream) else {
        return;
    };
    let partial = Arc::new(AtomicBool::new(false));
    let io = Watched {
        inner: stream,
        partial: Arc::clone(&partial),
    };
    let service = service_fn(move |request| answer(state, request, patience.body));
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(patience.header)
        .serve_connection(TokioIo::new(io), service)
        .await;
    if let Err(e) = served
        && e.is_timeout()
        && partial.load(Ordering::SeqCst)
        && let Ok(mut spare) = TcpStream::from_std(spare)
    {
        let message = format!(
            "the request's head did not arrive within {} s",
            patience.header.as_secs()
        );
        let _ = spare
            .write_all(&raw_answer(408, "Request Timeout", 40801, &message))
            .await;
        let _ = spare.shutdown().await;
    }
}

/// The stream, and a second handle on its socket that outlives hyper's.
fn with_spare(stream: TcpStream) -> Option<(TcpStream, std::net::TcpStream)> {
    let stream = stream.into_std().ok()?;
    let spare = stream.try_clone().ok()?;
    Some((TcpStream::from_std(stream).ok()?, spare))
}

/// A connection over the cap: 503, then closed once the client's request is read (or a second
/// passes), so that the client reads the answer rather than a reset.
async fn refuse_busy(mut stream: TcpStream, max_connections: usize) {
    let message = format!(
        "pinpipe serve is serving {max_connections} connections (--max-connections); retry shortly"
    );
    let _ = stream
        .write_all(&raw_answer(503, "Service Unavailable", 50303, &message))
        .await;
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// An answer written straight to a socket (no request to answer through hyper), closing it.
fn raw_answer(status: u16, reason: &str, error_code: u32, message: &str) -> Vec<u8> {
    let body = json!({"error_code": error_code, "message": message}).to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The socket, noting whether bytes of a request arrived since the last answer was written.
struct Watched {
    inner: TcpStream,
    partial: Arc<AtomicBool>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.partial.store(true, Ordering::SeqCst);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.partial.store(false, Ordering::SeqCst);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.partial.store(false, Ordering::SeqCst);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One HTTP request → the handler's `respond` → an HTTP response.
async fn answer(
    state: &ingest_api::State,
    request: Request<Incoming>,
    body_timeout: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let content_type = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // a declared length over the limit is answered before the body is read: a client that sent
    // `Expect: 100-continue` hears 413, not `100 Continue`, and sends nothing more
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let answer = if let Some(Err(e)) = declared.map(pinpipe::ingest::body_length) {
        e.into()
    } else {
        let body = Limited::new(request.into_body(), MAX_BODY_BYTES + 1).collect();
        match tokio::time::timeout(body_timeout, body).await {
            Ok(Ok(body)) => {
                let body = body.to_bytes();
                ingest_api::respond(state, &method, &path, content_type.as_deref(), &body).await
            }
            Ok(Err(e)) => ingest_api::Answer {
                status: 413,
                body: json!({"error_code": 41301, "message": format!("the body could not be read whole: {e}")}),
            },
            Err(_) => ingest_api::Answer {
                status: 408,
                body: json!({"error_code": 40801, "message": format!("the body did not arrive whole within {} s", body_timeout.as_secs())}),
            },
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.body.to_string())));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if answer.status == 408 {
        // the body is still on its way: the connection cannot carry another request
        response.headers_mut().insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
    }
    Ok(response)
}
