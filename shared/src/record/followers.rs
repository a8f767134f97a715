//! `follower_count`: the source stores it as display text (`124k`, `1.2k`, `15M`, `1,234`).

use super::text::strip;

/// Parses a follower count as displayed: `"124k"` → 124000, `"1.2k"` → 1200, `"15M"` → 15000000,
/// `"2B"` → 2000000000, `"1,234"` → 1234. Suffixes are ×1,000 / ×1,000,000 / ×1,000,000,000 (any
/// case); digits of the fraction beyond the suffix's scale are cut off, as integer division would.
/// Anything else (`User Info Error`, empty, negative, overflowing) is `None`.
pub fn parse_follower_count(text: &str) -> Option<i64> {
    let text = strip(text);
    let owned;
    let text = if text.contains(',') {
        owned = text.replace(',', "");
        owned.as_str()
    } else {
        text
    };
    let (number, scale) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 3),
        b'm' | b'M' => (&text[..text.len() - 1], 6),
        b'b' | b'B' => (&text[..text.len() - 1], 9),
        _ => (text, 0),
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (number, None),
    };
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    let mut value = whole.parse::<i64>().ok()?.checked_mul(10_i64.pow(scale))?;
    // the first `scale` digits of the fraction, padded with zeros: "1.2k" → 200
    let digits = fraction
        .unwrap_or("")
        .bytes()
        .chain(std::iter::repeat(b'0'));
    let mut part = 0_i64;
    for d in digits.take(scale as usize) {
        part = part * 10 + i64::from(d - b'0');
    }
    value = value.checked_add(part)?;
    Some(value)
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_display_shape() {
        let cases: &[(&str, Option<i64>)] = &[
            ("124k", Some(124_000)),
            ("1.2k", Some(1_200)),
            ("1.25k", Some(1_250)),
            ("1.2345k", Some(1_234)),
            ("15M", Some(15_000_000)),
            ("2B", Some(2_000_000_000)),
            ("0", Some(0)),
            ("437", Some(437)),
            ("1,234", Some(1_234)),
            ("1,234k", Some(1_234_000)),
            ("3m", Some(3_000_000)),
            ("2.5M", Some(2_500_000)),
            (" 9k ", Some(9_000)),
            ("1.9", Some(1)),
            ("User Info Error", None),
            ("", None),
            ("   ", None),
            ("k", None),
            ("1.k", None),
            (".5k", None),
            ("-5", None),
            ("+5", None),
            ("1kk", None),
            ("12 k", None),
            ("lots", None),
            ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None),
            ("9223372036854776k", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_follower_count(text), *want, "{text:?}");
        }
    }
}
