//! Rejections are data: a reason code a machine can count and a message a person can act on.

use std::fmt;

use crate::Table;

/// Why a record was rejected. [`Reason::code`] is the stable, machine-readable form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The bytes are not valid UTF-8.
    NotUtf8,
    /// The text is not JSON.
    NotJson,
    /// Valid JSON, but not an object.
    NotObject,
    /// An object whose arrays and objects nest deeper than [`crate::limits::MAX_NESTING`]: the
    /// readers downstream (Python, Spark, Athena) refuse or crash on such depth.
    TooDeep,
    /// Neither `index` nor `ind` is present (or both are null).
    MissingInd,
    /// `index`/`ind` is not an integer or an integer string.
    InvalidInd,
    /// `index` and `ind` are both present and disagree.
    ConflictingInd,
    /// A known key appears twice in the object: which value the sender meant is unknowable (RFC 8259
    /// §4: parsers disagree), so neither is taken.
    DuplicateKey,
    /// A required field is missing or null.
    MissingField,
    /// A required field cannot be read (not a number, not a datetime).
    InvalidField,
    /// A required field is outside its range (latitude, longitude).
    OutOfRange,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
        Reason::NotUtf8,
        Reason::NotJson,
        Reason::NotObject,
        Reason::TooDeep,
        Reason::MissingInd,
        Reason::InvalidInd,
        Reason::ConflictingInd,
        Reason::DuplicateKey,
        Reason::MissingField,
        Reason::InvalidField,
        Reason::OutOfRange,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::NotUtf8 => "not_utf8",
            Reason::NotJson => "not_json",
            Reason::NotObject => "not_object",
            Reason::TooDeep => "too_deep",
            Reason::MissingInd => "missing_ind",
            Reason::InvalidInd => "invalid_ind",
            Reason::ConflictingInd => "conflicting_ind",
            Reason::DuplicateKey => "duplicate_key",
            Reason::MissingField => "missing_field",
            Reason::InvalidField => "invalid_field",
            Reason::OutOfRange => "out_of_range",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One rejected record: which table, why, which field, and a message naming record and field.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub table: Table,
    pub reason: Reason,
    /// The raw field at fault, where there is one.
    pub field: Option<&'static str>,
    /// The record's id, where it could be read.
    pub ind: Option<i64>,
    pub message: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.reason)
    }
}
