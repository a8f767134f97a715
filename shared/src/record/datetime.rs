//! Datetimes as senders write them (spec §1.1): `2020-08-28 03:52:47`, `2020-08-28T03:52:47`, an
//! optional fraction, an optional zone (`Z`, `+00:00`, `+0000`, `+00`); no zone means UTC.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

use super::text::strip;

/// Parses a datetime to UTC with microsecond precision (finer fractions are cut off).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let s = strip(text).as_bytes();
    if s.len() < 19 || !matches!(s[10], b' ' | b'T' | b't') {
        return None;
    }
    if s[4] != b'-' || s[7] != b'-' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    let year = digits(&s[0..4])?;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    let hour = digits(&s[11..13])?;
    let minute = digits(&s[14..16])?;
    let second = digits(&s[17..19])?;
    let mut rest = &s[19..];

    let mut micros = 0_u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for i in 0..6 {
            micros = micros * 10
                + frac
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |d| u32::from(d - b'0'));
        }
        rest = &frac[n..];
    }

    let offset_seconds: i64 = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (h, m) = match zone {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };

    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
    let local = date.and_time(time).and_utc();
    local.checked_sub_signed(TimeDelta::seconds(offset_seconds))
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0_u32, |acc, d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn accepts_every_sender_format() {
        let want = utc("2020-08-28T03:52:47Z");
        for text in [
            "2020-08-28 03:52:47",
            "2020-08-28T03:52:47",
            "2020-08-28t03:52:47",
            "2020-08-28T03:52:47Z",
            "2020-08-28T03:52:47z",
            "2020-08-28 03:52:47+00:00",
            "2020-08-28T03:52:47+0000",
            "2020-08-28T03:52:47-00",
            "2020-08-28T03:52:47.000",
            "2020-08-28T03:52:47.0000000009Z",
            "2020-08-28T05:52:47+02:00",
            "2020-08-27T23:52:47-04:00",
            " 2020-08-28 03:52:47 ",
        ] {
            assert_eq!(parse_datetime(text), Some(want), "{text:?}");
        }
    }

    #[test]
    fn keeps_microseconds_and_cuts_finer_digits() {
        assert_eq!(
            parse_datetime("2020-08-28 03:52:47.5"),
            Some(utc("2020-08-28T03:52:47.5Z"))
        );
        assert_eq!(
            parse_datetime("2020-08-28T03:52:47.1234567Z"),
            Some(utc("2020-08-28T03:52:47.123456Z"))
        );
    }

    #[test]
    fn refuses_what_is_not_a_datetime() {
        for text in [
            "",
            "yesterday",
            "2020-08-28",
            "2020-08-28 03:52",
            "2020/08/28 03:52:47",
            "2020-02-30 03:52:47",
            "2020-08-28 24:00:00",
            "2020-08-28 03:52:60",
            "2020-08-28 03:52:47.",
            "2020-08-28 03:52:47 UTC",
            "2020-08-28 03:52:47+25:00",
            "2020-08-28 03:52:47+1",
            "2020-08-28_03:52:47",
            "１２３４-08-28 03:52:47",
        ] {
            assert_eq!(parse_datetime(text), None, "{text:?}");
        }
    }
}
