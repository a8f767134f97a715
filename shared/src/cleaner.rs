//! A table's raw records in arrival order → clean rows, rejections and dropped duplicates, counted.

use foldhash::HashSet;
use foldhash::HashSetExt;
#[cfg(feature = "lake")]
use rayon::prelude::*;
use std::fmt;

use crate::Table;
use crate::record::{self, Cleaned, Reason, Rejection};

/// What became of one raw record.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<'a> {
    Clean(Cleaned<'a>),
    /// A clean record whose `ind` already arrived in this run (first arrival wins).
    Duplicate(i64),
    Rejected(Rejection),
}

/// Cleans one table's records in arrival order, dropping re-sent `ind`s and counting everything.
#[derive(Debug)]
pub struct TableCleaner {
    table: Table,
    seen: HashSet<i64>,
    stats: CleanStats,
}

impl TableCleaner {
    pub fn new(table: Table) -> Self {
        TableCleaner {
            table,
            seen: HashSet::new(),
            stats: CleanStats::new(table),
        }
    }

    pub fn table(&self) -> Table {
        self.table
    }

    /// Cleans the bytes of one raw record.
    pub fn push<'a>(&mut self, bytes: &'a [u8]) -> Outcome<'a> {
        self.settle(record::clean(self.table, bytes))
    }

    /// Takes in one record cleaned elsewhere, in arrival order: first arrival wins, and the
    /// outcome is counted.
    pub fn settle<'a>(&mut self, cleaned: Result<Cleaned<'a>, Rejection>) -> Outcome<'a> {
        let mut outcome = Outcome::from(cleaned);
        self.settle_in_place(&mut outcome);
        outcome
    }

    /// Takes in one outcome of [`clean_all`] (clean or rejected), in arrival order: a clean record
    /// whose `ind` arrived before becomes a duplicate, and the outcome is counted.
    pub fn settle_in_place(&mut self, outcome: &mut Outcome<'_>) {
        if let Outcome::Clean(cleaned) = outcome {
            let ind = cleaned.row.ind();
            if !self.seen.insert(ind) {
                *outcome = Outcome::Duplicate(ind);
            }
        }
        self.stats.count(outcome);
    }

    pub fn stats(&self) -> &CleanStats {
        &self.stats
    }
}

/// Records below this many are cleaned on the calling thread: a thread costs more than they do.
const PARALLEL_FROM: usize = 4_096;

/// Cleans `records` of `table` in up to `threads` runs on the process's rayon pool (the work is
/// pure: parsing and cleaning need nothing but the bytes). The outcomes (clean or rejected, not
/// yet settled) come back in input order, in runs, ready for [`TableCleaner::settle_in_place`]:
/// first arrival is an order-dependent decision, so it stays with the one cleaner that sees every
/// record in turn.
#[cfg(feature = "lake")]
pub fn clean_all<'a>(table: Table, records: &[&'a [u8]], threads: usize) -> Vec<Vec<Outcome<'a>>> {
    let clean_run = |run: &[&'a [u8]]| -> Vec<Outcome<'a>> {
        run.iter()
            .map(|bytes| Outcome::from(record::clean(table, bytes)))
            .collect()
    };
    let threads = threads.clamp(1, records.len().div_ceil(PARALLEL_FROM).max(1));
    if threads == 1 {
        return vec![clean_run(records)];
    }
    let per_thread = records.len().div_ceil(threads);
    records.par_chunks(per_thread).map(clean_run).collect()
}

impl<'a> From<Result<Cleaned<'a>, Rejection>> for Outcome<'a> {
    /// A cleaned record before first arrival is decided.
    fn from(cleaned: Result<Cleaned<'a>, Rejection>) -> Self {
        match cleaned {
            Ok(cleaned) => Outcome::Clean(cleaned),
            Err(rejection) => Outcome::Rejected(rejection),
        }
    }
}

/// The data-quality counters of one table (they become metrics on the Lambda paths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanStats {
    pub table: Table,
    /// Raw records read.
    pub read: u64,
    /// Clean rows kept.
    pub clean: u64,
    /// Clean records dropped because their `ind` arrived before.
    pub duplicates: u64,
    /// Rejections by reason, indexed like [`Reason::ALL`].
    pub rejected: [u64; Reason::ALL.len()],
    /// Kept rows' columns that cleaning nulled, indexed like [`Table::columns`].
    pub nulled: [u64; 12],
    /// Keys the table does not know, over all kept rows.
    pub unknown_keys: u64,
}

impl CleanStats {
    pub fn new(table: Table) -> Self {
        CleanStats {
            table,
            read: 0,
            clean: 0,
            duplicates: 0,
            rejected: [0; Reason::ALL.len()],
            nulled: [0; 12],
            unknown_keys: 0,
        }
    }

    /// Adds one outcome; only kept rows count towards nulled fields and unknown keys.
    pub fn count(&mut self, outcome: &Outcome<'_>) {
        self.read += 1;
        match outcome {
            Outcome::Clean(cleaned) => {
                self.clean += 1;
                for column in cleaned.nulled.iter() {
                    self.nulled[column] += 1;
                }
                self.unknown_keys += u64::from(cleaned.unknown_keys);
            }
            Outcome::Duplicate(_) => self.duplicates += 1,
            Outcome::Rejected(rejection) => {
                let i = Reason::ALL
                    .iter()
                    .position(|r| *r == rejection.reason)
                    .expect("Reason::ALL lists every reason");
                self.rejected[i] += 1;
            }
        }
    }

    /// Adds another count of the same table (the daily run's attempts at one table).
    pub fn merge(&mut self, other: &CleanStats) {
        self.read += other.read;
        self.clean += other.clean;
        self.duplicates += other.duplicates;
        for (mine, theirs) in self.rejected.iter_mut().zip(other.rejected) {
            *mine += theirs;
        }
        for (mine, theirs) in self.nulled.iter_mut().zip(other.nulled) {
            *mine += theirs;
        }
        self.unknown_keys += other.unknown_keys;
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    pub fn nulled_total(&self) -> u64 {
        self.nulled.iter().sum()
    }

    /// Nulled count of one column by name (0 for names the table lacks).
    pub fn nulled_in(&self, column: &str) -> u64 {
        self.table
            .columns()
            .iter()
            .position(|c| *c == column)
            .map_or(0, |i| self.nulled[i])
    }

    /// Rejections with one reason.
    pub fn rejected_for(&self, reason: Reason) -> u64 {
        Reason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.rejected[i])
    }
}

/// One line: `pin: read 2262, clean 2019, fields nulled 391 (title 16, …), rejected 0, duplicates dropped 243`.
impl fmt::Display for CleanStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: read {}, clean {}, fields nulled {}",
            self.table,
            self.read,
            self.clean,
            self.nulled_total()
        )?;
        let by_column: Vec<String> = self
            .table
            .columns()
            .iter()
            .zip(self.nulled)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        if !by_column.is_empty() {
            write!(f, " ({})", by_column.join(", "))?;
        }
        write!(f, ", rejected {}", self.rejected_total())?;
        let by_reason: Vec<String> = Reason::ALL
            .iter()
            .zip(self.rejected)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        if !by_reason.is_empty() {
            write!(f, " ({})", by_reason.join(", "))?;
        }
        write!(f, ", duplicates dropped {}", self.duplicates)?;
        if self.unknown_keys > 0 {
            write!(f, ", unknown keys ignored {}", self.unknown_keys)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_arrival_wins_and_everything_is_counted() {
        let mut cleaner = TableCleaner::new(Table::User);
        let lines: [&[u8]; 5] = [
            br#"{"ind": 1, "first_name": "A", "last_name": "B", "age": 20, "date_joined": "2015-10-24 11:23:51"}"#,
            br#"{"ind": 1, "first_name": "Later", "last_name": "B", "age": 20, "date_joined": "2015-10-24 11:23:51"}"#,
            br#"{"ind": 2, "first_name": "", "last_name": "", "age": "old", "date_joined": "2015-10-24 11:23:51", "x": 1}"#,
            br#"{"ind": 3, "date_joined": "never"}"#,
            b"not json",
        ];
        let outcomes: Vec<_> = lines.iter().map(|l| cleaner.push(l)).collect();
        assert!(matches!(&outcomes[0], Outcome::Clean(c) if c.row.ind() == 1));
        assert_eq!(outcomes[1], Outcome::Duplicate(1));
        let s = cleaner.stats();
        assert_eq!(
            (s.read, s.clean, s.duplicates, s.rejected_total()),
            (5, 2, 1, 2)
        );
        assert_eq!(s.rejected_for(Reason::InvalidField), 1);
        assert_eq!(s.rejected_for(Reason::NotJson), 1);
        assert_eq!((s.nulled_in("user_name"), s.nulled_in("age")), (1, 1));
        assert_eq!(s.unknown_keys, 1);
        assert_eq!(
            s.to_string(),
            "user: read 5, clean 2, fields nulled 2 (user_name 1, age 1), rejected 2 \
             (not_json 1, invalid_field 1), duplicates dropped 1, unknown keys ignored 1"
        );
    }

    #[cfg(feature = "lake")]
    #[test]
    fn cleaning_on_many_threads_settles_to_what_one_thread_gives() {
        // 20,000 records over 5 threads, re-sent inds across the threads' runs, some rejected
        let lines: Vec<String> = (0..20_000)
            .map(|i| match i % 7 {
                0 => format!("{{\"ind\": {i}, \"date_joined\": \"never\"}}"),
                _ => format!(
                    "{{\"ind\": {}, \"first_name\": \"F{i}\", \"last_name\": \"L\", \"age\": 30, \"date_joined\": \"2015-10-24 11:23:51\"}}",
                    i % 9_000
                ),
            })
            .collect();
        let records: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();

        let mut one = TableCleaner::new(Table::User);
        let expected: Vec<Outcome<'_>> = records.iter().map(|r| one.push(r)).collect();

        let mut many = TableCleaner::new(Table::User);
        let runs = clean_all(Table::User, &records, 5);
        assert_eq!(runs.len(), 5, "the records are split over the threads");
        let settled: Vec<Outcome<'_>> = runs
            .into_iter()
            .flatten()
            .map(|mut o| {
                many.settle_in_place(&mut o);
                o
            })
            .collect();

        assert_eq!(settled, expected);
        assert_eq!(many.stats(), one.stats());

        assert!(one.stats().duplicates > 0 && one.stats().rejected_total() > 0);
    }
}
