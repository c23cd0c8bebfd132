//! Usage errors in one voice: the argument parser's message as one line that starts with the
//! tool's name (`cnctl:` for the client, `cloud-network:` otherwise), then one line naming the
//! `--help` of the (sub)command that was being parsed.

/// Where in the command tree a word is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// `cloud-network [--version] <command>`
    Top,
    /// `cnctl [--json] [--url URL] [--config PATH] <command>`
    Cnctl,
    /// A command without subcommands: its words are its own.
    Leaf,
}

impl Level {
    fn subcommand(self, word: &str) -> Option<Level> {
        match (self, word) {
            (Level::Top, "cnctl") => Some(Level::Cnctl),
            (Level::Top, "daemon" | "emulate" | "version") => Some(Level::Leaf),
            (Level::Cnctl, "status" | "show" | "refresh" | "version") => Some(Level::Leaf),
            _ => None,
        }
    }

    /// Options of this level that take the next word as their value.
    fn takes_value(self, option: &str) -> bool {
        self == Level::Cnctl && matches!(option, "--url" | "--config")
    }
}

/// The command whose `--help` applies to `args`: `cnctl status`, `cloud-network daemon`, ...
pub fn command_path(program: &str, args: &[&str]) -> String {
    let mut level = if program == "cnctl" {
        Level::Cnctl
    } else {
        Level::Top
    };
    let mut path = vec![program];
    let mut words = args.iter();
    while let Some(&word) = words.next() {
        if word.starts_with('-') {
            if level.takes_value(word) {
                words.next();
            }
            continue;
        }
        match level.subcommand(word) {
            Some(next) => {
                path.push(word);
                level = next;
            }
            None => break,
        }
    }
    path.join(" ")
}

/// The tool that speaks for `command`: the client's lines start with `cnctl:`.
pub fn voice(command: &str) -> &'static str {
    if command == "cnctl" || command.starts_with("cnctl ") || command.contains(" cnctl") {
        "cnctl"
    } else {
        "cloud-network"
    }
}

/// The parser's (possibly multi-line) message as one line: a list under a heading is joined
/// with commas after the heading's colon.
fn one_line(message: &str) -> String {
    let mut line = String::new();
    for (i, part) in message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            line.push_str(if line.ends_with(':') { " " } else { ", " });
        }
        line.push_str(part);
    }
    line
}

/// Both lines of a usage error, each ending in a newline.
pub fn error_lines(command: &str, message: &str) -> String {
    let voice = voice(command);
    format!(
        "{voice}: {}\n{voice}: run '{command} --help' for usage\n",
        one_line(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_named_is_the_subcommand_being_parsed() {
        let cases: [(&str, &[&str], &str); 9] = [
            ("cnctl", &[], "cnctl"),
            ("cnctl", &["status"], "cnctl status"),
            ("cnctl", &["--url", "status", "show", "x"], "cnctl show"),
            ("cnctl", &["--json", "bogus"], "cnctl"),
            (
                "cloud-network",
                &["daemon", "--bogus"],
                "cloud-network daemon",
            ),
            (
                "cloud-network",
                &["emulate", "--provider", "daemon"],
                "cloud-network emulate",
            ),
            (
                "cloud-network",
                &["cnctl", "show"],
                "cloud-network cnctl show",
            ),
            ("cloud-network", &["--bogus"], "cloud-network"),
            ("cloud-network", &["bogus", "daemon"], "cloud-network"),
        ];
        for (program, args, want) in cases {
            assert_eq!(command_path(program, args), want, "{program} {args:?}");
        }
    }

    #[test]
    fn the_client_speaks_as_cnctl() {
        assert_eq!(voice("cnctl show"), "cnctl");
        assert_eq!(voice("cloud-network cnctl"), "cnctl");
        assert_eq!(voice("cloud-network daemon"), "cloud-network");
        assert_eq!(voice("cloud-network"), "cloud-network");
    }

    #[test]
    fn a_list_under_a_heading_becomes_one_line() {
        assert_eq!(
            one_line("One of the following subcommands must be present:\n    help\n    status\n"),
            "One of the following subcommands must be present: help, status"
        );
        assert_eq!(
            one_line("Unrecognized argument: --bogus\n"),
            "Unrecognized argument: --bogus"
        );
        assert_eq!(
            error_lines(
                "cnctl",
                "Required positional arguments not provided:\n    what\n"
            ),
            "cnctl: Required positional arguments not provided: what\n\
             cnctl: run 'cnctl --help' for usage\n"
        );
    }
}
