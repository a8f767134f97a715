//! `pinpipe serve`: the ingest-api handler over plain HTTP/1.1 on 127.0.0.1, so that curl, the
//! emulator and the original Python script can post without AWS.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;

use clap::Args;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use pinpipe::config::{AwsConfig, IngestConfig, KafkaConnection};
use pinpipe::ingest::MAX_BODY_BYTES;
use pinpipe::routes::{StreamNames, StreamRoutes, TopicRoutes};
use serde_json::json;
use tokio::net::TcpListener;

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
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(state, request));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// One HTTP request → the handler's `respond` → an HTTP response.
async fn answer(
    state: &ingest_api::State,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let content_type = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer = match Limited::new(request.into_body(), MAX_BODY_BYTES + 1)
        .collect()
        .await
    {
        Ok(body) => {
            let body = body.to_bytes();
            ingest_api::respond(state, &method, &path, content_type.as_deref(), &body).await
        }
        Err(e) => ingest_api::Answer {
            status: 413,
            body: json!({"error_code": 41301, "message": format!("the body could not be read whole: {e}")}),
        },
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.body.to_string())));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
