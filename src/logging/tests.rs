//! Unit tests of the log lines: levels, formats and the escaping of outside values.
use super::*;
use std::time::Duration;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn rfc3339_known_instants() {
    let cases = [
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (951_868_799, "2000-02-29T23:59:59Z"),
        (951_868_800, "2000-03-01T00:00:00Z"),
        (1_709_164_800, "2024-02-29T00:00:00Z"),
        (1_709_251_199, "2024-02-29T23:59:59Z"),
        (1_735_689_599, "2024-12-31T23:59:59Z"),
        (1_735_689_600, "2025-01-01T00:00:00Z"),
        (4_107_542_400, "2100-03-01T00:00:00Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
    ];
    for (secs, want) in cases {
        assert_eq!(rfc3339(at(secs)), want, "{secs}");
    }
}

#[test]
fn rfc3339_1900_and_2100_are_not_leap_years() {
    assert_eq!(rfc3339(at(4_107_456_000)), "2100-02-28T00:00:00Z");
    assert_eq!(rfc3339(at(4_107_542_399)), "2100-02-28T23:59:59Z");
    let feb28_1900 = UNIX_EPOCH - Duration::from_secs(2_203_977_600);
    assert_eq!(rfc3339(feb28_1900), "1900-02-28T00:00:00Z");
    let next_day = feb28_1900 + Duration::from_secs(86_400);
    assert_eq!(rfc3339(next_day), "1900-03-01T00:00:00Z");
}

#[test]
fn rfc3339_truncates_sub_seconds_and_handles_pre_epoch() {
    assert_eq!(
        rfc3339(at(1_700_000_000) + Duration::from_millis(999)),
        "2023-11-14T22:13:20Z"
    );
    let just_before = UNIX_EPOCH - Duration::from_millis(1);
    assert_eq!(rfc3339(just_before), "1969-12-31T23:59:59Z");
    let one_second_before = UNIX_EPOCH - Duration::from_secs(1);
    assert_eq!(rfc3339(one_second_before), "1969-12-31T23:59:59Z");
}

#[test]
fn levels_parse_in_any_case() {
    let cases = [
        ("trace", LogLevel::Trace),
        ("DEBUG", LogLevel::Debug),
        ("Info", LogLevel::Info),
        ("Warning", LogLevel::Warning),
        ("warn", LogLevel::Warning),
        ("ERROR", LogLevel::Error),
        ("fatal", LogLevel::Fatal),
        ("PaNiC", LogLevel::Panic),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<LogLevel>(), Ok(want), "{text}");
    }
    assert_eq!(
        "verbose".parse::<LogLevel>().unwrap_err().to_string(),
        "unknown log level \"verbose\": expected one of Trace, Debug, Info, Warning, Error, Fatal, Panic"
    );
}

#[test]
fn fatal_and_panic_filter_like_error() {
    assert_eq!(LogLevel::Fatal.to_filter(), LevelFilter::Error);
    assert_eq!(LogLevel::Panic.to_filter(), LevelFilter::Error);
    assert_eq!(LogLevel::Warning.to_filter(), LevelFilter::Warn);
    assert_eq!(LogLevel::Trace.to_filter(), LevelFilter::Trace);
}

#[test]
fn other_crates_are_capped_at_info_below_trace() {
    assert_eq!(
        filters(LogLevel::Debug),
        (LevelFilter::Debug, LevelFilter::Info)
    );
    assert_eq!(
        filters(LogLevel::Trace),
        (LevelFilter::Trace, LevelFilter::Trace)
    );
    assert_eq!(
        filters(LogLevel::Error),
        (LevelFilter::Error, LevelFilter::Error)
    );
}

#[test]
fn formats_parse_in_any_case() {
    assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
    assert_eq!("Text".parse::<LogFormat>(), Ok(LogFormat::Text));
    assert_eq!(
        "xml".parse::<LogFormat>().unwrap_err().to_string(),
        "unknown log format \"xml\": expected text or json"
    );
}

#[test]
fn text_line_plain_and_for_journald() {
    let now = at(0);
    let plain = format_record(LogFormat::Text, false, Level::Warn, "t", "disk full", now);
    assert_eq!(plain, "warning disk full");
    let journal = format_record(LogFormat::Text, true, Level::Error, "t", "a\nb", now);
    assert_eq!(journal, "<3>error a\\nb");
    let debug = format_record(LogFormat::Text, true, Level::Trace, "t", "x", now);
    assert_eq!(debug, "<7>trace x");
    let info = format_record(LogFormat::Text, true, Level::Info, "t", "x", now);
    assert_eq!(info, "<6>info x");
}

#[test]
fn text_lines_escape_every_control_character() {
    let now = at(0);
    let hostile = "mac \"aa:bb\ninfo forged\u{1b}[31m\r\t\u{7f}\u{9b}\u{0}\" é \\n kept";
    let line = format_record(LogFormat::Text, false, Level::Warn, "t", hostile, now);
    assert_eq!(
        line,
        r#"warning mac "aa:bb\ninfo forged\u{1b}[31m\r\t\u{7f}\u{9b}\u{0}" é \n kept"#
    );
    let journal = format_record(LogFormat::Text, true, Level::Info, "t", "a\u{1b}b", now);
    assert_eq!(journal, r"<6>info a\u{1b}b");
    assert!(matches!(escape_controls("plain"), Cow::Borrowed("plain")));
}

#[test]
fn terminal_and_json_text_keep_their_lines_and_escape_the_rest() {
    let hostile = "a\u{1b}]52;c;aGk=\u{7}\n\tb\u{1b}[2J\r\u{9b}0m\u{7f}";
    assert_eq!(
        escape(hostile, Escape::Terminal),
        "a\\u{1b}]52;c;aGk=\\u{7}\n\tb\\u{1b}[2J\\r\\u{9b}0m\\u{7f}"
    );
    let json = serde_json::to_string_pretty(&serde_json::json!({ "k": hostile })).unwrap();
    let escaped = escape(&json, Escape::Json);
    assert!(
        !escaped.chars().any(|c| c.is_control() && c != '\n'),
        "{escaped}"
    );
    let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
    assert_eq!(back["k"], hostile);
    assert!(matches!(
        escape("a\n\tb", Escape::Terminal),
        Cow::Borrowed(_)
    ));
}

#[test]
fn json_line_is_one_escaped_object() {
    let line = format_record(
        LogFormat::Json,
        true,
        Level::Info,
        "cloud_network::daemon",
        "said \"hi\"\n\tthen left",
        at(1_709_164_800),
    );
    assert_eq!(
        line,
        r#"{"time":"2024-02-29T00:00:00Z","level":"info","target":"cloud_network::daemon","message":"said \"hi\"\n\tthen left"}"#
    );
}
