//! Logging: the configured level and format, the line formatter (plain text or one JSON object
//! per line) and the env_logger set-up, plus the RFC 3339 timestamp the API reuses.
//!
//! Messages carry values from outside (metadata, config, API requests). The formatter escapes
//! every control character of a text line, once for every call site, so no value can forge a
//! log line or send escape sequences to a terminal; JSON lines are escaped by serde.

use log::{Level, LevelFilter};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The crate whose records follow the configured level; other crates' records are capped at
/// `Info` unless the level is `Trace`, so `Debug` shows our decisions, not HTTP internals.
const OWN_CRATE: &str = "cloud_network";

/// The log levels of the original (logrus names). `Fatal` and `Panic` log like `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warning,
    Error,
    Fatal,
    Panic,
}

impl LogLevel {
    /// The names accepted in the config, as the error messages list them.
    pub const EXPECTED: &'static str =
        "expected one of Trace, Debug, Info, Warning, Error, Fatal, Panic";

    /// The lowercase name, as written back in the API and `cnctl`.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Fatal => "fatal",
            LogLevel::Panic => "panic",
        }
    }

    /// The most verbose records shown at this level.
    pub fn to_filter(self) -> LevelFilter {
        match self {
            LogLevel::Trace => LevelFilter::Trace,
            LogLevel::Debug => LevelFilter::Debug,
            LogLevel::Info => LevelFilter::Info,
            LogLevel::Warning => LevelFilter::Warn,
            LogLevel::Error | LogLevel::Fatal | LogLevel::Panic => LevelFilter::Error,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A log level or log format name that is not one of the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSettingError {
    Level(String),
    Format(String),
}

impl fmt::Display for LogSettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogSettingError::Level(v) => {
                write!(f, "unknown log level {v:?}: {}", LogLevel::EXPECTED)
            }
            LogSettingError::Format(v) => {
                write!(f, "unknown log format {v:?}: {}", LogFormat::EXPECTED)
            }
        }
    }
}

impl std::error::Error for LogSettingError {}

impl FromStr for LogLevel {
    type Err = LogSettingError;
    /// Any case; `warn` is accepted as `Warning`.
    fn from_str(s: &str) -> Result<Self, LogSettingError> {
        match s.to_ascii_lowercase().as_str() {
            "trace" => Ok(LogLevel::Trace),
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warning" | "warn" => Ok(LogLevel::Warning),
            "error" => Ok(LogLevel::Error),
            "fatal" => Ok(LogLevel::Fatal),
            "panic" => Ok(LogLevel::Panic),
            _ => Err(LogSettingError::Level(s.to_string())),
        }
    }
}

/// How log lines are written: `Text` for people and journald, `Json` for log shippers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    pub const EXPECTED: &'static str = "expected text or json";

    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LogFormat {
    type Err = LogSettingError;
    fn from_str(s: &str) -> Result<Self, LogSettingError> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(LogSettingError::Format(s.to_string())),
        }
    }
}

/// Installs the global logger on stderr. Text lines get a syslog priority prefix when stderr
/// is journald's stream (`JOURNAL_STREAM` set), so the journal records each line's level.
pub fn init(level: LogLevel, format: LogFormat) -> Result<(), log::SetLoggerError> {
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let (own, others) = filters(level);
    env_logger::Builder::new()
        .filter_level(others)
        .filter_module(OWN_CRATE, own)
        .target(env_logger::Target::Stderr)
        .write_style(env_logger::WriteStyle::Never)
        .format(move |buf, record| {
            let message = record.args().to_string();
            let line = format_record(
                format,
                journald,
                record.level(),
                record.target(),
                &message,
                SystemTime::now(),
            );
            writeln!(buf, "{line}")
        })
        .try_init()
}

/// The filters for our own crate and for every other crate at a configured level.
pub fn filters(level: LogLevel) -> (LevelFilter, LevelFilter) {
    let own = level.to_filter();
    let others = if level == LogLevel::Trace {
        LevelFilter::Trace
    } else {
        own.min(LevelFilter::Info)
    };
    (own, others)
}

/// One log line, without its newline; always exactly one line. Text: `<level> <message>` with
/// every control character escaped (see [`escape_controls`]), prefixed with `<N>` (syslog
/// priority) when `journald` is true. JSON: one object with `time`, `level`, `target` and
/// `message`, escaped by serde.
pub fn format_record(
    format: LogFormat,
    journald: bool,
    level: Level,
    target: &str,
    message: &str,
    now: SystemTime,
) -> String {
    match format {
        LogFormat::Text => text_line(journald, level, message),
        LogFormat::Json => json_line(level, target, message, now),
    }
}

fn text_line(journald: bool, level: Level, message: &str) -> String {
    let message = escape_controls(message);
    let name = level_name(level);
    if journald {
        format!("<{}>{name} {message}", syslog_priority(level))
    } else {
        format!("{name} {message}")
    }
}

/// `text` with each control character (C0, DEL and C1) written as Rust writes it in a debug
/// string: `\n`, `\r`, `\t`, else `\u{1b}`. Everything else, backslashes included, is kept.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape(text, Escape::Line)
}

/// Where escaped text goes, which decides what stays as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// One log line: every control character escaped, newlines and tabs included.
    Line,
    /// A terminal, text of several lines (cnctl): newlines and tabs kept, every other control
    /// character escaped as in a log line, so no value from outside moves the cursor, clears
    /// the screen or sets the clipboard or the window title.
    Terminal,
    /// JSON text (cnctl --json): newlines kept, and the control characters a JSON writer may
    /// leave raw inside strings (DEL and C1) written `\u009b`, so the JSON stays valid and
    /// means the same.
    Json,
}

/// `text` escaped for `to`.
pub fn escape(text: &str, to: Escape) -> Cow<'_, str> {
    let kept = |c: char| match to {
        Escape::Line => false,
        Escape::Terminal => c == '\n' || c == '\t',
        Escape::Json => c == '\n',
    };
    if !text.chars().any(|c| c.is_control() && !kept(c)) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if kept(c) || !c.is_control() => escaped.push(c),
            c if to == Escape::Json => escaped.push_str(&format!("\\u{:04x}", u32::from(c))),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c => escaped.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    Cow::Owned(escaped)
}

#[derive(Serialize)]
struct JsonLine<'a> {
    time: String,
    level: &'static str,
    target: &'a str,
    message: &'a str,
}

fn json_line(level: Level, target: &str, message: &str, now: SystemTime) -> String {
    let line = JsonLine {
        time: rfc3339(now),
        level: level_name(level),
        target,
        message,
    };
    serde_json::to_string(&line).expect("a struct of strings always serializes")
}

/// The record level as logrus spells it (`warning`, not `warn`).
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// The syslog priority journald reads from a `<N>` line prefix.
fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

const SECONDS_PER_DAY: i64 = 86_400;

/// `2024-02-29T12:34:56Z`: UTC, whole seconds (sub-seconds truncated toward the past).
pub fn rfc3339(time: SystemTime) -> String {
    let secs = unix_seconds(time);
    let days = secs.div_euclid(SECONDS_PER_DAY);
    let of_day = secs.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Whole seconds since the Unix epoch, rounded toward the past for instants before it.
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() == 0 {
                -whole
            } else {
                -whole - 1
            }
        }
    }
}

/// Year, month, day of the proleptic Gregorian calendar for a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`, 400-year eras of 146097 days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests;
