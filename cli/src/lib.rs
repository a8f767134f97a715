//! `pinpipe`: run pinpipe's pieces on a laptop, no AWS needed.
//!
//! Everything the binary does goes through [`main_with`], which takes the arguments and the three
//! standard streams, so tests run exactly what the binary runs, in-process.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod consume;
mod consume_kafka;
mod daily;
mod demo;
mod emulate;
mod land;
mod redrive;
mod seed_db;
mod serve;

use pinpipe::Table;
use pinpipe::jsonl::{CleanSinks, clean_json_lines, clean_kafka_rest, write_source_files};
use pinpipe::source::Synthetic;

#[derive(Debug, Parser)]
#[command(
    name = "pinpipe",
    version,
    about = "Pinterest posts → clean Delta tables, serverless; run on a laptop"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole pipeline here, with no AWS and no network: generated posts through the ingest
    /// handler, both paths through their handlers into a Delta lake, the daily run, the nine
    /// insights printed and drawn in WAREHOUSE/report.html.
    Demo(demo::Demo),
    /// Generate synthetic posts in the source format: DIR/pin.jsonl, geo.jsonl, user.jsonl.
    Generate {
        /// Posts to send (re-sent posts included, about 10.7% of them).
        #[arg(long)]
        posts: u64,
        /// The same seed gives the same bytes.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Clean raw records of one table (spec §2): clean JSON lines out, rejections to --rejects,
    /// duplicates by `ind` dropped (first arrival wins), a summary on stderr.
    Clean {
        #[arg(long, value_parser = parse_table)]
        table: Table,
        /// Raw records; standard input when absent.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Clean rows; standard output when absent.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Rejections (quarantine records); standard error when absent.
        #[arg(long)]
        rejects: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = InputFormat::Jsonl)]
        input_format: InputFormat,
    },
    /// Query the lake with SQL (DataFusion). Tables: batch_pin, batch_geo, batch_user, stream_pin,
    /// stream_geo, stream_user, quarantine (those that exist). S3 settings come from the standard
    /// AWS environment (AWS_ENDPOINT_URL, AWS_REGION, credentials).
    Sql {
        /// The warehouse root: a local directory or s3://bucket/prefix.
        #[arg(long)]
        warehouse: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// The query, e.g. "SELECT count(*) FROM batch_pin".
        query: String,
    },
    /// Run the stream path locally: poll Kinesis shards like Lambda's event source mapping and feed
    /// each batch, as a KinesisEvent, to the kinesis-consumer handler in this process. Kinesis and S3
    /// settings come from the standard AWS environment (AWS_ENDPOINT_URL, AWS_REGION, credentials).
    ConsumeKinesis(consume::ConsumeKinesis),
    /// Replay the stream mappings' discarded batches (the on-failure destination's aws/lambda/
    /// objects) into the stream tables, exactly once however often it runs; objects are left in
    /// place. S3 settings come from the standard AWS environment.
    Redrive(redrive::Redrive),
    /// Run the batch path's landing locally: consume Kafka topics like Lambda's MSK trigger and feed
    /// each batch, as a KafkaEvent, to the msk-consumer handler in this process; offsets are
    /// committed for the group once the handler acknowledged the records. S3 settings come from the
    /// standard AWS environment.
    ConsumeKafka(consume_kafka::ConsumeKafka),
    /// Land JSON-lines source files (DIR/pin.jsonl, geo.jsonl, user.jsonl) in the raw zone as the
    /// msk-consumer would, one raw object per batch of records: a dump, ready for `pinpipe daily`.
    Land(land::Land),
    /// Post like the original emulator: each post's pin, geo and user rows to the ingest API (batch
    /// mode: POST /topics/<prefix>.<table>; stream mode: PUT /streams/streaming-<prefix>-<table>/record),
    /// from the embedded generator, a JSON-lines directory or the source database; 5xx answers are
    /// retried.
    Emulate(emulate::Emulate),
    /// Create the source database's tables (pinterest_data, geolocation_data, user_data) and fill
    /// them from the generator or a source-rows directory.
    SeedDb(seed_db::SeedDb),
    /// Serve the ingest API (the ingest-api handler) over plain HTTP on 127.0.0.1: POST
    /// /topics/{topic}, PUT /streams/{stream}/record, PUT /streams/{stream}/records. Kinesis settings
    /// come from the standard AWS environment.
    Serve(serve::Serve),
    /// Run the daily job locally (the daily-analytics function's work): clean the raw objects not
    /// cleaned yet into the batch tables, write the nine insight tables for the run date, maintain
    /// the tables. Prints a JSON summary.
    Daily(daily::Daily),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OutputFormat {
    /// An aligned text table.
    Table,
    /// One JSON object per row, with `pinpipe clean`'s value formats.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum InputFormat {
    /// One raw JSON object per line.
    Jsonl,
    /// A Kafka REST proxy consumer answer: a JSON array of {topic, partition, offset, value}.
    KafkaRest,
}

fn parse_table(s: &str) -> Result<Table, String> {
    s.parse().map_err(|e: pinpipe::Error| e.to_string())
}

/// The command's one error type: what failed, on which file.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{path}: {source}")]
    File { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Pinpipe(#[from] pinpipe::Error),
    #[error("writing to the terminal: {0}")]
    Stdio(#[from] io::Error),
    /// Work that was attempted and did not succeed (e.g. requests that kept failing).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    fn is_broken_pipe(&self) -> bool {
        let io = match self {
            CliError::File { source, .. } => source,
            CliError::Pinpipe(pinpipe::Error::Io(source)) | CliError::Stdio(source) => source,
            CliError::Pinpipe(_) | CliError::Failed(_) => return false,
        };
        io.kind() == io::ErrorKind::BrokenPipe
    }
}

/// The standard streams of one run.
pub struct Stdio<'a> {
    pub stdin: &'a mut dyn BufRead,
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
}

/// The binary's entry point: logs on stderr (quiet unless `RUST_LOG` asks, e.g. `RUST_LOG=info` for
/// every batch), then [`main_with`] over the process's arguments and standard streams.
pub fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,deltalake=error,buoyant_kernel=off".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
    // stderr stays unlocked: worker threads' log lines go there too (holding its lock for the
    // whole run would block them forever)
    let (stdin, stdout) = (io::stdin(), io::stdout());
    main_with(
        std::env::args_os(),
        Stdio {
            stdin: &mut stdin.lock(),
            stdout: &mut stdout.lock(),
            stderr: &mut io::stderr(),
        },
    )
}

/// Runs `pinpipe` with these arguments (the first is the program name) and streams.
pub fn main_with<I, T>(args: I, io: Stdio<'_>) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = write!(io.stderr, "{}", e.render());
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let stderr = &mut *io.stderr;
    let streams = Stdio {
        stdin: io.stdin,
        stdout: io.stdout,
        stderr,
    };
    match run(cli, streams) {
        Ok(()) => ExitCode::SUCCESS,
        // the reader went away (`pinpipe clean | head`): not a failure of ours
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io.stderr, "pinpipe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, io: Stdio<'_>) -> Result<(), CliError> {
    match cli.command {
        Command::Generate { posts, seed, out } => {
            let n = write_source_files(&out, Synthetic::new(seed).take(posts as usize))?;
            writeln!(
                io.stderr,
                "generated {n} posts (seed {seed}) in {}",
                out.display()
            )?;
            Ok(())
        }
        Command::Clean {
            table,
            input,
            output,
            rejects,
            input_format,
        } => {
            let (reader, name): (Box<dyn Read>, String) = match &input {
                Some(p) => (Box::new(open(p)?), p.display().to_string()),
                None => (Box::new(io.stdin), "-".to_owned()),
            };
            let mut clean_out: Box<dyn Write> = match &output {
                Some(p) => Box::new(BufWriter::new(create(p)?)),
                None => Box::new(BufWriter::new(&mut *io.stdout)),
            };
            let mut rejects_out: Box<dyn Write> = match &rejects {
                Some(p) => Box::new(BufWriter::new(create(p)?)),
                None => Box::new(&mut *io.stderr),
            };
            let sinks = CleanSinks {
                clean: &mut clean_out,
                rejects: &mut rejects_out,
            };
            let now = chrono::Utc::now();
            let stats = match input_format {
                InputFormat::Jsonl => clean_json_lines(
                    table,
                    BufReader::with_capacity(1 << 20, reader),
                    &name,
                    sinks,
                    now,
                )?,
                InputFormat::KafkaRest => {
                    let mut body = Vec::new();
                    BufReader::new(reader)
                        .read_to_end(&mut body)
                        .map_err(|source| CliError::File {
                            path: name.into(),
                            source,
                        })?;
                    clean_kafka_rest(table, &body, sinks, now)?
                }
            };
            drop((clean_out, rejects_out));
            writeln!(io.stderr, "{stats}")?;
            Ok(())
        }
        Command::Sql {
            warehouse,
            format,
            query,
        } => sql(&warehouse, format, &query, io.stdout),
        Command::ConsumeKinesis(args) => consume::consume_kinesis(args, io.stderr),
        Command::ConsumeKafka(args) => consume_kafka::consume_kafka(args, io.stderr),
        Command::Redrive(args) => redrive::redrive(args, io.stdout),
        Command::Daily(args) => daily::daily(args, io.stdout),
        Command::Demo(args) => demo::demo(args, io.stdout, io.stderr),
        Command::Land(args) => land::land(args, io.stderr),
        Command::Serve(args) => serve::serve(args, io.stderr),
        Command::Emulate(args) => emulate::emulate(args, io.stderr),
        Command::SeedDb(args) => seed_db::seed_db(args, io.stderr),
    }
}

fn sql(
    warehouse: &str,
    format: OutputFormat,
    query: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use pinpipe::lake::{Warehouse, sql};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let batches = runtime.block_on(async {
        let warehouse = Warehouse::open(warehouse, &pinpipe::config::AwsConfig::from_env())?;
        let (ctx, _) = sql::session(&warehouse).await?;
        sql::query(&ctx, query).await
    })?;
    let mut out = BufWriter::new(out);
    match format {
        OutputFormat::Table => {
            let text = pinpipe::arrow::util::pretty::pretty_format_batches(&batches)
                .map_err(pinpipe::Error::from)?;
            writeln!(out, "{text}")?;
        }
        OutputFormat::Jsonl => sql::write_jsonl(&batches, &mut out)?,
        OutputFormat::Csv => {
            let mut writer = pinpipe::arrow::csv::Writer::new(&mut out);
            for batch in &batches {
                writer.write(batch).map_err(pinpipe::Error::from)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn open(path: &Path) -> Result<File, CliError> {
    File::open(path).map_err(|source| CliError::File {
        path: path.into(),
        source,
    })
}

fn create(path: &Path) -> Result<File, CliError> {
    File::create(path).map_err(|source| CliError::File {
        path: path.into(),
        source,
    })
}
