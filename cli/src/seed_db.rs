//! `pinpipe seed-db`: create the source database's three tables (spec §1) and fill them, from the
//! generator or from a source-rows directory (e.g. real rows), as the emulator's source.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use pinpipe::config::AwsConfig;
use pinpipe::jsonl::read_source_files;
use pinpipe::source::{MysqlSource, Synthetic};

use crate::CliError;

#[derive(Debug, Args)]
pub struct SeedDb {
    /// The database: mysql://user:password@host:port/database.
    #[arg(long)]
    url: String,
    /// An RDS secret in Secrets Manager holding the user name and password.
    #[arg(long)]
    source_secret_id: Option<String>,
    /// Distinct posts from the embedded generator.
    #[arg(long, conflicts_with = "from")]
    posts: Option<u64>,
    /// A directory with pin.jsonl, geo.jsonl, user.jsonl in the source format (line i of each is
    /// post i); a post whose id is already in the database is left as it is.
    #[arg(long)]
    from: Option<PathBuf>,
    /// The generator's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn seed_db(args: SeedDb, stderr: &mut dyn Write) -> Result<(), CliError> {
    let posts = match (&args.from, args.posts) {
        (Some(dir), _) => read_source_files(dir)?,
        (None, Some(n)) => {
            // the generator re-sends about a tenth of its posts: a database holds each once
            let generator = Synthetic::new(args.seed);
            let mut seen = std::collections::HashSet::new();
            generator
                .filter(|p| seen.insert(p.ind()))
                .take(n as usize)
                .collect()
        }
        (None, None) => {
            return Err(CliError::Failed(
                "give --posts N (generated) or --from DIR (source rows)".into(),
            ));
        }
    };
    let url = args.url.replacen("mariadb://", "mysql://", 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (inserted, total) = runtime.block_on(async {
        let db = match &args.source_secret_id {
            Some(id) => MysqlSource::connect_secret(&url, id, &AwsConfig::from_env()).await?,
            None => MysqlSource::connect(&url).await?,
        };
        db.create_tables().await?;
        let inserted = db.insert(&posts).await?;
        let total = db.ids().await?.len();
        Ok::<_, pinpipe::Error>((inserted, total))
    })?;
    writeln!(
        stderr,
        "seeded {inserted} new posts of {} given; the database holds {total} posts",
        posts.len()
    )?;
    Ok(())
}
