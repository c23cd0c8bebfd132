//! Durations in the original's (Go's) form: "300s", "5m", "1h30m", "1.5h", "500ms", or a bare
//! integer meaning seconds; parsed exactly, in whole nanoseconds, and printed back the same way.

use std::fmt;
use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    Empty,
    Negative(String),
    /// A component without a number, or a malformed number (`"abc"`, `"."`, `"1..5s"`).
    BadNumber(String),
    /// A number without a unit in a multi-part duration (`"1h30"`).
    MissingUnit(String),
    UnknownUnit {
        input: String,
        unit: String,
    },
    Overflow(String),
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("empty duration"),
            DurationError::Negative(s) => write!(f, "negative duration {s:?}"),
            DurationError::BadNumber(s) => write!(f, "invalid number in duration {s:?}"),
            DurationError::MissingUnit(s) => write!(f, "missing unit in duration {s:?}"),
            DurationError::UnknownUnit { input, unit } => write!(
                f,
                "unknown unit {unit:?} in duration {input:?} (expected h, m, s, ms, us or ns)"
            ),
            DurationError::Overflow(s) => write!(f, "duration {s:?} is too large"),
        }
    }
}

impl std::error::Error for DurationError {}

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Units, longest spelling first so that "ms" is not read as "m" followed by "s".
const UNITS: [(&str, u128); 8] = [
    ("ms", 1_000_000),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ns", 1),
    ("h", 3600 * NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("s", NANOS_PER_SECOND),
];

/// Fraction digits beyond this are below a nanosecond for every unit and are dropped.
const MAX_FRACTION_DIGITS: usize = 18;

/// Parses a Go-style duration. Whitespace around it is ignored; signs are not accepted.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative(input.to_string()));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // The same limit as with units (u64 nanoseconds), so every result prints back.
        let secs = text
            .parse::<u64>()
            .ok()
            .filter(|secs| secs.checked_mul(NANOS_PER_SECOND as u64).is_some())
            .ok_or_else(|| DurationError::Overflow(input.to_string()))?;
        return Ok(Duration::from_secs(secs));
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, after) = component(rest, input)?;
        total = total
            .checked_add(nanos)
            .ok_or_else(|| DurationError::Overflow(input.to_string()))?;
        rest = after;
    }
    let nanos = u64::try_from(total).map_err(|_| DurationError::Overflow(input.to_string()))?;
    Ok(Duration::from_nanos(nanos))
}

/// One `<number><unit>` at the start of `text`: its length in nanoseconds and what follows.
fn component<'a>(text: &'a str, input: &str) -> Result<(u128, &'a str), DurationError> {
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, after) = text.split_at(number_len);
    let (whole, fraction) = split_number(number, input)?;
    let unit_len = after
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(after.len());
    let (unit, rest) = after.split_at(unit_len);
    if unit.is_empty() {
        return Err(DurationError::MissingUnit(input.to_string()));
    }
    let scale = unit_scale(unit).ok_or_else(|| DurationError::UnknownUnit {
        input: input.to_string(),
        unit: unit.to_string(),
    })?;
    let nanos =
        scaled(whole, fraction, scale).ok_or_else(|| DurationError::Overflow(input.to_string()))?;
    Ok((nanos, rest))
}

/// Splits "1.5" into ("1", "5"); refuses "", ".", "1.2.3".
fn split_number<'a>(number: &'a str, input: &str) -> Result<(&'a str, &'a str), DurationError> {
    let bad = || DurationError::BadNumber(input.to_string());
    let (whole, fraction) = match number.split_once('.') {
        Some((_, f)) if f.contains('.') => return Err(bad()),
        Some(parts) => parts,
        None => (number, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return Err(bad());
    }
    Ok((whole, fraction))
}

fn unit_scale(unit: &str) -> Option<u128> {
    UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|&(_, scale)| scale)
}

/// `whole.fraction × scale` in nanoseconds, truncating below a nanosecond; None on overflow.
fn scaled(whole: &str, fraction: &str, scale: u128) -> Option<u128> {
    let whole_value: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let digits = &fraction[..fraction.len().min(MAX_FRACTION_DIGITS)];
    let fraction_value: u128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let denominator = 10u128.pow(digits.len() as u32);
    let whole_nanos = whole_value.checked_mul(scale)?;
    whole_nanos.checked_add(fraction_value * scale / denominator)
}

/// Prints a duration in the form `parse_duration` reads: "5m", "1h30m", "300ms", "0s";
/// zero components are left out ("1h" not "1h0m0s"), a sub-second rest in ms, us or ns.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let sub = duration.subsec_nanos();
    let mut out = String::new();
    for (value, unit) in [
        (secs / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    if sub > 0 {
        out.push_str(&sub_second(sub));
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

fn sub_second(nanos: u32) -> String {
    if nanos % 1_000_000 == 0 {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_unit_spelling_wins() {
        assert_eq!(parse_duration("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_duration("1m1s"), Ok(Duration::from_secs(61)));
    }

    #[test]
    fn fraction_digits_beyond_nanoseconds_are_dropped() {
        assert_eq!(
            parse_duration("0.0000000019999999999999s"),
            Ok(Duration::from_nanos(1))
        );
    }

    #[test]
    fn bare_seconds_share_the_nanosecond_limit() {
        assert_eq!(
            parse_duration("18446744073"),
            Ok(Duration::from_secs(18_446_744_073))
        );
        assert_eq!(
            parse_duration("184467441734"),
            Err(DurationError::Overflow("184467441734".into()))
        );
        assert_eq!(
            parse_duration("184467441734s"),
            Err(DurationError::Overflow("184467441734s".into()))
        );
    }

    #[test]
    fn format_round_trips() {
        for nanos in [
            1,
            999,
            1_000,
            1_500_000_000,
            3_600_000_000_001,
            86_400_000_000_000,
        ] {
            let d = Duration::from_nanos(nanos);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{nanos}");
        }
    }
}
