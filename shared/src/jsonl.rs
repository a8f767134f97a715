//! JSON-lines files: the source dump format (what `pinpipe generate` writes and the file source
//! reads) and the outputs of `pinpipe clean` (clean rows, quarantine records).

use std::fs::File;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::cleaner::{CleanStats, Outcome, TableCleaner};
use crate::quarantine::{QuarantineRecord, SourceRef};
use crate::source::{Post, kafka_rest};
use crate::{Result, Table};

/// Writes posts as `DIR/pin.jsonl`, `DIR/geo.jsonl`, `DIR/user.jsonl`; returns how many.
pub fn write_source_files(dir: &Path, posts: impl IntoIterator<Item = Post>) -> Result<u64> {
    std::fs::create_dir_all(dir)?;
    let open = |t: Table| -> Result<BufWriter<File>> {
        let file = File::create(dir.join(format!("{t}.jsonl")))?;
        Ok(BufWriter::with_capacity(1 << 20, file))
    };
    let mut files = [open(Table::Pin)?, open(Table::Geo)?, open(Table::User)?];
    let mut line = Vec::with_capacity(4096);
    let mut n = 0;
    for post in posts {
        for (table, file) in Table::ALL.iter().zip(files.iter_mut()) {
            line.clear();
            post.write_line(*table, &mut line);
            file.write_all(&line)?;
        }
        n += 1;
    }
    for file in files.iter_mut() {
        file.flush()?;
    }
    Ok(n)
}

/// Reads `DIR/pin.jsonl`, `DIR/geo.jsonl`, `DIR/user.jsonl` back into posts (line i of each file is
/// post i); a line that is not a source row, or rows of one line with different ids, is an error
/// naming the file and line.
pub fn read_source_files(dir: &Path) -> Result<Vec<Post>> {
    use crate::source::{SourceGeo, SourcePin, SourceUser};
    fn rows<T: serde::de::DeserializeOwned>(dir: &Path, table: Table) -> Result<Vec<T>> {
        let path = dir.join(format!("{table}.jsonl"));
        let file = File::open(&path)
            .map_err(|e| crate::Error::source_row_from(path.display().to_string(), e))?;
        std::io::BufReader::new(file)
            .lines()
            .enumerate()
            .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
            .map(|(i, line)| {
                serde_json::from_str(&line?).map_err(|e| {
                    crate::Error::source_row_from(format!("{}:{}", path.display(), i + 1), e)
                })
            })
            .collect()
    }
    let pins: Vec<SourcePin> = rows(dir, Table::Pin)?;
    let geos: Vec<SourceGeo> = rows(dir, Table::Geo)?;
    let users: Vec<SourceUser> = rows(dir, Table::User)?;
    if pins.len() != geos.len() || pins.len() != users.len() {
        return Err(crate::Error::source_row(format!(
            "{}: {} pin, {} geo and {} user rows: a post is one row of each",
            dir.display(),
            pins.len(),
            geos.len(),
            users.len()
        )));
    }
    pins.into_iter()
        .zip(geos)
        .zip(users)
        .enumerate()
        .map(|(i, ((pin, geo), user))| {
            if pin.index == geo.ind && pin.index == user.ind {
                Ok(Post { pin, geo, user })
            } else {
                Err(crate::Error::source_row(format!(
                    "{}: line {}: ids {}, {} and {} differ",
                    dir.display(),
                    i + 1,
                    pin.index,
                    geo.ind,
                    user.ind
                )))
            }
        })
        .collect()
}

/// Where the cleaning functions send what they make.
pub struct CleanSinks<'w> {
    pub clean: &'w mut dyn Write,
    pub rejects: &'w mut dyn Write,
}

/// Cleans raw JSON lines of one table: clean rows to `sinks.clean` (one JSON object per line, §2
/// column names, RFC 3339 UTC timestamps), rejections to `sinks.rejects` as quarantine records.
/// Blank lines are not records and are skipped; line numbers count every line.
pub fn clean_json_lines(
    table: Table,
    mut input: impl BufRead,
    path: &str,
    sinks: CleanSinks<'_>,
    rejected_at: DateTime<Utc>,
) -> Result<CleanStats> {
    let mut run = CleanRun::new(table, sinks, rejected_at);
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 0_u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let line = trim_line_end(&buf);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        run.push(line, || SourceRef::File {
            path: path.to_owned(),
            line: line_no,
        })?;
    }
    run.finish()
}

/// Cleans the records of a Kafka REST proxy consumer answer (a JSON array of envelopes).
pub fn clean_kafka_rest(
    table: Table,
    body: &[u8],
    sinks: CleanSinks<'_>,
    rejected_at: DateTime<Utc>,
) -> Result<CleanStats> {
    let mut run = CleanRun::new(table, sinks, rejected_at);
    for record in kafka_rest::parse_consumer_records(body)? {
        run.push(record.value.get().as_bytes(), || SourceRef::Kafka {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
        })?;
    }
    run.finish()
}

/// One table's records on their way to the sinks.
struct CleanRun<'w> {
    cleaner: TableCleaner,
    sinks: CleanSinks<'w>,
    rejected_at: DateTime<Utc>,
}

impl<'w> CleanRun<'w> {
    fn new(table: Table, sinks: CleanSinks<'w>, rejected_at: DateTime<Utc>) -> Self {
        CleanRun {
            cleaner: TableCleaner::new(table),
            sinks,
            rejected_at,
        }
    }

    /// Cleans one raw record; `source` is asked for only when the record is rejected.
    fn push(&mut self, raw: &[u8], source: impl FnOnce() -> SourceRef) -> Result<()> {
        match self.cleaner.push(raw) {
            Outcome::Clean(c) => {
                serde_json::to_writer(&mut *self.sinks.clean, &c.row)
                    .map_err(std::io::Error::from)?;
                self.sinks.clean.write_all(b"\n")?;
            }
            Outcome::Duplicate(_) => {}
            Outcome::Rejected(rejection) => {
                let record = QuarantineRecord::new(rejection, raw, source(), self.rejected_at);
                serde_json::to_writer(&mut *self.sinks.rejects, &record)
                    .map_err(std::io::Error::from)?;
                self.sinks.rejects.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<CleanStats> {
        self.sinks.clean.flush()?;
        self.sinks.rejects.flush()?;
        Ok(self.cleaner.stats().clone())
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
