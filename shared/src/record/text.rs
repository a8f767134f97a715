//! Text rules shared by every table: what counts as blank, and trimming.

use std::borrow::Cow;

/// White space as the contract means it: Unicode `White_Space` plus the separators U+001C–U+001F
/// (the set Python's `str.isspace` uses, which the reference implementations follow).
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The text without leading and trailing white space.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// True for the empty string and for strings of white space only (spec §1.2: missing).
pub fn is_blank(s: &str) -> bool {
    s.chars().all(is_space)
}

/// Trims a possibly owned string, borrowing where it can.
pub fn strip_cow(s: Cow<'_, str>) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(strip(b)),
        Cow::Owned(o) => {
            let t = strip(&o);
            if t.len() == o.len() {
                Cow::Owned(o)
            } else {
                Cow::Owned(t.to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_means_empty_or_only_white_space() {
        for s in [
            "",
            " ",
            "\t\n",
            "\u{a0}",
            "\u{3000}",
            "\u{1f}",
            " \u{2028} ",
        ] {
            assert!(is_blank(s), "{s:?}");
        }
        for s in ["a", " a ", "\u{200b}", "…"] {
            assert!(!is_blank(s), "{s:?}");
        }
    }

    #[test]
    fn strip_removes_unicode_space_at_both_ends() {
        assert_eq!(strip("\u{a0} Chad \n"), "Chad");
        assert_eq!(strip_cow(Cow::Owned(" x ".into())), "x");
        assert!(matches!(
            strip_cow(Cow::Borrowed(" x ")),
            Cow::Borrowed("x")
        ));
    }
}
