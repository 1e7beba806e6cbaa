//! Exact UTC time arithmetic for event times: RFC 3339 parsing and formatting, epoch-ms <-> civil
//! date. Hand-written (Howard Hinnant's civil-from-days) so the hot path needs no time crate and
//! the row format is pinned here, where the columns are defined.

/// Days since 1970-01-01 for a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

const MS_PER_DAY: i64 = 86_400_000;

/// `YYYY-MM-DD` (UTC) of an epoch-millisecond instant: the `dt` partition value.
pub fn date_of_ms(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of an epoch-millisecond instant.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        (rem / 60_000) % 60,
        (rem / 1_000) % 60,
        rem % 1_000,
    );
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Why an RFC 3339 timestamp was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeError {
    /// Not of the form `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    Syntax,
    /// A field is out of range (month 13, day 31 in April, hour 24, ...).
    Range,
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeError::Syntax => "not an RFC 3339 date-time",
            TimeError::Range => "RFC 3339 field out of range",
        })
    }
}

impl std::error::Error for TimeError {}

fn digits(b: &[u8], at: usize, n: usize) -> Result<u32, TimeError> {
    let s = b.get(at..at + n).ok_or(TimeError::Syntax)?;
    let mut v: u32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return Err(TimeError::Syntax);
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Ok(v)
}

fn expect(b: &[u8], at: usize, what: &[u8]) -> Result<(), TimeError> {
    match b.get(at) {
        Some(c) if what.contains(c) => Ok(()),
        _ => Err(TimeError::Syntax),
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// A `YYYY-MM-DD` day (its first instant, UTC) or an RFC 3339 date-time, in epoch milliseconds:
/// how price dates and `--at` are written.
pub fn parse_day_or_instant_ms(s: &str) -> Result<i64, TimeError> {
    if s.len() == 10 {
        parse_rfc3339_ms(&format!("{s}T00:00:00Z"))
    } else {
        parse_rfc3339_ms(s)
    }
}

/// Parses an RFC 3339 date-time into epoch milliseconds (UTC). Fractions beyond milliseconds are
/// truncated (Athena timestamps hold milliseconds); a leap second `:60` is clamped to `:59.999`.
pub fn parse_rfc3339_ms(s: &str) -> Result<i64, TimeError> {
    let b = s.as_bytes();
    let y = i64::from(digits(b, 0, 4)?);
    expect(b, 4, b"-")?;
    let mo = digits(b, 5, 2)?;
    expect(b, 7, b"-")?;
    let d = digits(b, 8, 2)?;
    expect(b, 10, b"Tt ")?;
    let h = digits(b, 11, 2)?;
    expect(b, 13, b":")?;
    let mi = digits(b, 14, 2)?;
    expect(b, 16, b":")?;
    let mut sec = digits(b, 17, 2)?;
    let mut i = 19;
    let mut milli: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 3 {
                milli = milli * 10 + i64::from(c - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err(TimeError::Syntax);
        }
        for _ in n..3 {
            milli *= 10;
        }
    }
    let offset_min: i64 = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = i64::from(digits(b, i + 1, 2)?);
            expect(b, i + 3, b":")?;
            let om = i64::from(digits(b, i + 4, 2)?);
            if oh > 23 || om > 59 {
                return Err(TimeError::Range);
            }
            i += 6;
            let o = oh * 60 + om;
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return Err(TimeError::Syntax),
    };
    if i != b.len() {
        return Err(TimeError::Syntax);
    }
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 {
        return Err(TimeError::Range);
    }
    if sec == 60 {
        sec = 59;
        milli = 999;
    } else if sec > 60 {
        return Err(TimeError::Range);
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3_600 + i64::from(mi) * 60 + i64::from(sec);
    Ok((secs - offset_min * 60) * 1_000 + milli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_instants() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_rfc3339_ms("2025-03-11T00:38:02Z"),
            Ok(1_741_653_482_000)
        );
        assert_eq!(
            format_rfc3339_ms(1_741_653_482_123),
            "2025-03-11T00:38:02.123Z"
        );
        assert_eq!(date_of_ms(1_741_653_482_000), "2025-03-11");
        assert_eq!(date_of_ms(-1), "1969-12-31");
    }

    #[test]
    fn offsets_and_fractions_are_exact() {
        // 01:30+02:00 is 23:30Z the previous day: the dt must follow UTC.
        let ms = parse_rfc3339_ms("2026-01-01T01:30:00.5+02:00").unwrap();
        assert_eq!(format_rfc3339_ms(ms), "2025-12-31T23:30:00.500Z");
        let ms = parse_rfc3339_ms("2026-01-01T00:00:00.123456789Z").unwrap();
        assert_eq!(format_rfc3339_ms(ms), "2026-01-01T00:00:00.123Z");
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T12:00:00-05:30").unwrap(),
            parse_rfc3339_ms("2024-02-29T17:30:00Z").unwrap()
        );
    }

    #[test]
    fn refuses_malformed_and_out_of_range() {
        for bad in [
            "",
            "2025-03-11",
            "2025-03-11T00:38Z",
            "2025-03-11T00:38:02",
            "2025-03-11T00:38:02.Z",
            "2025-03-11T00:38:02Zjunk",
            "2025/03/11T00:38:02Z",
            "２０２５-03-11T00:38:02Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), Err(TimeError::Syntax), "{bad}");
        }
        for bad in [
            "2025-13-01T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00:61Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), Err(TimeError::Range), "{bad}");
        }
    }

    #[test]
    fn civil_conversion_is_inverse_over_centuries() {
        for z in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
