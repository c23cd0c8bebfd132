//! The packaging: the unit's hardening score (`systemd-analyze security`) and `verify`, man
//! pages and bash completion in sync with `--help` (flags, commands, providers, arguments, the
//! config keys), `packaging/install.sh` into a DESTDIR (exact files and modes, config never
//! overwritten, uninstall), and sysusers/tmpfiles applied to that tree. No network is used.
//! The .deb build with cargo-deb is ignored unless asked for (`-- --include-ignored`, as
//! `.ci/run` does).

mod support;

use cloud_network::metadata::ProviderKind;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::scene::{run_ok, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_cloud-network");
const TOP: &str = env!("CARGO_MANIFEST_DIR");
const MAX_EXPOSURE: f64 = 2.0;

fn packaging(relative: &str) -> PathBuf {
    Path::new(TOP).join("packaging").join(relative)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

// ---- the unit ----

/// "→ Overall exposure level for cloud-network.service: 1.6 OK 🙂" → 1.6
fn overall_exposure(report: &str) -> f64 {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line in:\n{report}"));
    let after = line.rsplit_once(": ").expect("colon before the figure").1;
    after
        .split_whitespace()
        .next()
        .and_then(|figure| figure.parse().ok())
        .unwrap_or_else(|| panic!("no figure in {line:?}"))
}

#[test]
fn unit_exposure_is_ok_or_better() {
    let out = run_ok(
        Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(packaging("cloud-network.service")),
    );
    let exposure = overall_exposure(&stdout(&out));
    assert!(
        exposure <= MAX_EXPOSURE,
        "exposure {exposure} above {MAX_EXPOSURE}"
    );
}

/// The unit's `[Service]` settings, repeated keys joined with a space.
fn service_settings() -> BTreeMap<String, String> {
    let text = fs::read_to_string(packaging("cloud-network.service")).expect("read the unit");
    let mut settings: BTreeMap<String, String> = BTreeMap::new();
    let mut in_service = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if let Some((key, value)) = line.split_once('=').filter(|_| in_service) {
            let entry = settings.entry(key.to_string()).or_default();
            if !entry.is_empty() {
                entry.push(' ');
            }
            entry.push_str(value);
        }
    }
    settings
}

#[test]
fn unit_keeps_what_the_daemon_needs() {
    let settings = service_settings();
    let expected = [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("ExecStart", "/usr/bin/cloud-network"),
        ("ExecReload", "/bin/sh -c 'kill -HUP $$MAINPID'"),
        ("WatchdogSec", "30s"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "78"),
        ("User", "cloud-network"),
        ("AmbientCapabilities", "CAP_NET_ADMIN"),
        ("CapabilityBoundingSet", "CAP_NET_ADMIN"),
        ("RuntimeDirectory", "cloud-network"),
        ("RuntimeDirectoryMode", "0755"),
        ("RuntimeDirectoryPreserve", "yes"),
        ("UMask", "0022"),
        (
            "RestrictAddressFamilies",
            "AF_NETLINK AF_INET AF_INET6 AF_UNIX",
        ),
    ];
    for (key, value) in expected {
        assert_eq!(settings.get(key).map(String::as_str), Some(value), "{key}=");
    }
    for absent in ["PrivateNetwork", "PrivateUsers", "IPAddressDeny"] {
        assert_eq!(
            settings.get(absent),
            None,
            "{absent}= would cut the daemon off"
        );
    }
}

/// The system calls of a `systemd-analyze syscall-filter` group, nested groups expanded.
fn syscall_group(group: &str) -> BTreeSet<String> {
    let out = run_ok(Command::new("systemd-analyze").args(["syscall-filter", "--no-pager", group]));
    let mut calls = BTreeSet::new();
    for entry in stdout(&out).lines().skip(1).map(str::trim) {
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        if entry.starts_with('@') {
            calls.extend(syscall_group(entry));
        } else {
            calls.insert(entry.to_string());
        }
    }
    calls
}

/// The calls the unit's `SystemCallFilter=` lines allow, in order: the first is an allow
/// list, `~` lines take calls out, later plain lines put them back.
fn unit_allowed_syscalls() -> BTreeSet<String> {
    let text = fs::read_to_string(packaging("cloud-network.service")).expect("read the unit");
    let mut allowed = BTreeSet::new();
    for value in text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("SystemCallFilter="))
    {
        let (deny, names) = match value.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, value),
        };
        for name in names.split_whitespace() {
            let calls = if name.starts_with('@') {
                syscall_group(name)
            } else {
                BTreeSet::from([name.to_string()])
            };
            if deny {
                allowed.retain(|call| !calls.contains(call));
            } else {
                allowed.extend(calls);
            }
        }
    }
    allowed
}

#[test]
fn unit_allows_the_calls_that_confine_the_http_threads() {
    let allowed = unit_allowed_syscalls();
    for call in ["capset", "capget", "prctl"] {
        assert!(allowed.contains(call), "{call} is filtered out by the unit");
    }
    for call in ["setuid", "setresuid", "chroot", "setgroups"] {
        assert!(!allowed.contains(call), "{call} is allowed by the unit");
    }
}

#[test]
fn unit_verifies_with_its_binary_and_man_pages_installed() {
    let dest = TempDir::new("pkg-verify");
    install(dest.path(), &[]);
    let unit = fs::read_to_string(
        dest.path()
            .join("usr/lib/systemd/system/cloud-network.service"),
    )
    .expect("installed unit");
    let binary = dest.path().join("usr/bin/cloud-network");
    let copy = dest.path().join("cloud-network.service");
    let retargeted = unit.replace(
        "ExecStart=/usr/bin/cloud-network",
        &format!("ExecStart={}", binary.display()),
    );
    assert_ne!(retargeted, unit, "ExecStart not found in the unit");
    fs::write(&copy, retargeted).expect("write the unit copy");
    let out = run_ok(
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .env("MANPATH", dest.path().join("usr/share/man")),
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "verify warned");
}

// ---- man pages and completion against --help ----

/// Options and commands of one `--help` text.
#[derive(Default)]
struct Help {
    options: BTreeSet<String>,
    commands: BTreeSet<String>,
}

fn help(args: &[&str]) -> Help {
    let text = stdout(&run_ok(Command::new(BIN).args(args).arg("--help")));
    let mut parsed = Help::default();
    let mut section = "";
    for line in text.lines() {
        if !line.starts_with(' ') {
            section = line;
            continue;
        }
        let Some(entry) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) else {
            continue;
        };
        let word = entry
            .split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .unwrap_or_default()
            .to_string();
        match section {
            "Options:" => parsed.options.insert(word),
            "Commands:" => parsed.commands.insert(word),
            _ => false,
        };
    }
    parsed
}

/// The union of the options of several `--help` texts.
fn options_of(invocations: &[&[&str]]) -> BTreeSet<String> {
    invocations
        .iter()
        .flat_map(|args| help(args).options)
        .collect()
}

/// The page's lines without comments, with `\-` as `-` and font escapes removed.
fn man_lines(page: &str) -> Vec<String> {
    let text = fs::read_to_string(packaging(&format!("man/{page}"))).expect("read man page");
    text.lines()
        .filter(|l| !l.starts_with(".\\\""))
        .map(|l| {
            ["\\fB", "\\fI", "\\fR", "\\fP"]
                .iter()
                .fold(l.replace("\\-", "-"), |line, font| line.replace(font, ""))
        })
        .collect()
}

/// Every `--option` the page mentions.
fn man_options(page: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in man_lines(page) {
        for (start, _) in line.match_indices("--") {
            let name: String = line[start + 2..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !name.is_empty() {
                found.insert(format!("--{name}"));
            }
        }
    }
    found
}

/// The first word of each `.TP` entry in section `heading`.
fn man_entries(page: &str, heading: &str) -> BTreeSet<String> {
    let lines = man_lines(page);
    let mut found = BTreeSet::new();
    let mut in_section = false;
    for pair in lines.windows(2) {
        if pair[0].starts_with(".SH") {
            in_section = pair[0] == format!(".SH {heading}");
        }
        if in_section && pair[0] == ".TP" {
            let mut words = pair[1].split_whitespace();
            let first = words.next().unwrap_or_default();
            let word = if first.starts_with('.') {
                words.next().unwrap_or_default()
            } else {
                first
            };
            found.insert(word.trim_matches('"').to_string());
        }
    }
    found
}

#[test]
fn cloud_network_8_lists_the_flags_and_commands_of_help() {
    let flags = options_of(&[&[], &["daemon"], &["emulate"], &["version"]]);
    assert!(flags.contains("--dry-run") && flags.contains("--require-token"));
    assert_eq!(man_options("cloud-network.8"), flags);
    assert_eq!(
        man_entries("cloud-network.8", "COMMANDS"),
        help(&[]).commands
    );
}

#[test]
fn cnctl_1_lists_the_flags_and_commands_of_help() {
    let cnctl = help(&["cnctl"]);
    let subcommands: Vec<Vec<&str>> = cnctl
        .commands
        .iter()
        .map(|c| vec!["cnctl", c.as_str()])
        .collect();
    let mut flags = cnctl.options.clone();
    for args in &subcommands {
        flags.extend(help(args).options);
    }
    assert_eq!(flags, set(&["--config", "--help", "--json", "--url"]));
    assert_eq!(man_options("cnctl.1"), flags);
    assert_eq!(man_entries("cnctl.1", "COMMANDS"), cnctl.commands);
}

/// The words of a list such as "ssh-keys (k), credentials (c) ... or project": names and
/// aliases, without the joining "or".
fn list_words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty() && *w != "or")
        .map(String::from)
        .collect()
}

/// The description of one entry (`what`, `--provider`) of a `--help` text, continuation lines
/// joined.
fn help_entry(args: &[&str], entry: &str) -> String {
    let text = stdout(&run_ok(Command::new(BIN).args(args).arg("--help")));
    let mut lines = text.lines().skip_while(|l| {
        l.strip_prefix("  ")
            .and_then(|l| l.split_whitespace().next())
            .is_none_or(|word| word != entry)
    });
    let first = lines.next().unwrap_or_default();
    let mut description = first.trim_start()[entry.len()..].trim().to_string();
    for more in lines.take_while(|l| l.starts_with("                    ")) {
        description.push(' ');
        description.push_str(more.trim());
    }
    description
}

/// The words of the man page's `.TP` entries in `heading` whose first word is `command`,
/// after that word (`.BR show " document|d, pkcs7|p"` gives document, d, pkcs7, p).
fn man_arguments(page: &str, heading: &str, command: &str) -> BTreeSet<String> {
    let lines = man_lines(page);
    let mut found = BTreeSet::new();
    let mut in_section = false;
    for pair in lines.windows(2) {
        if pair[0].starts_with(".SH") {
            in_section = pair[0] == format!(".SH {heading}");
        }
        let words: Vec<&str> = pair[1].split_whitespace().collect();
        if in_section && pair[0] == ".TP" && words.get(1) == Some(&command) {
            found.extend(list_words(&words[2..].join(" ")));
        }
    }
    found
}

/// The bold words of the man page's `.TP` entry that starts with `entry`, up to the next one.
fn man_bold_words(page: &str, entry: &str) -> BTreeSet<String> {
    let lines = man_lines(page);
    let start = lines
        .iter()
        .position(|l| l.starts_with(entry))
        .unwrap_or_else(|| panic!("{page}: no entry {entry}"));
    lines[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with(".TP") && !l.starts_with(".S"))
        .filter_map(|l| l.strip_prefix(".B ").or_else(|| l.strip_prefix(".BR ")))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

#[test]
fn the_man_pages_list_the_providers_and_arguments_of_help() {
    let providers = list_words(
        help_entry(&["emulate"], "--provider")
            .split_once(':')
            .expect("--provider: cloud to emulate: ...")
            .1,
    );
    let every: BTreeSet<String> = ProviderKind::ALL.iter().map(|p| p.to_string()).collect();
    assert_eq!(providers, every);
    assert_eq!(
        man_bold_words("cloud-network.8", ".BI --provider"),
        providers
    );
    let config_words = man_bold_words("cloud-network.toml.5", ".B Provider=");
    assert!(providers.is_subset(&config_words), "{config_words:?}");
    for command in ["status", "show"] {
        let from_help = list_words(&help_entry(&["cnctl", command], "what"));
        assert_eq!(
            man_arguments("cnctl.1", "COMMANDS", command),
            from_help,
            "{command}"
        );
    }
    assert_eq!(man_options("cloud-network.toml.5"), set(&["--config"]));
}

#[test]
fn cloud_network_toml_5_documents_every_key_of_the_default_config() {
    let text = fs::read_to_string(packaging("cloud-network.toml")).expect("default config");
    let mut in_config = BTreeSet::new();
    let mut section = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            section = line.to_string();
        } else if let Some((key, _)) = line.strip_prefix('#').and_then(|l| l.split_once('=')) {
            in_config.insert(format!("{section} {key}="));
        }
    }
    let mut in_man = BTreeSet::new();
    for heading in ["[System]", "[Network]"] {
        for key in man_entries("cloud-network.toml.5", heading) {
            in_man.insert(format!("{heading} {key}"));
        }
    }
    assert_eq!(in_config.len(), 21, "{in_config:?}");
    assert_eq!(in_man, in_config);
}

/// What the bash completion offers for `words` (the last one is being completed).
fn complete(function: &str, words: &[&str]) -> BTreeSet<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; {function}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        packaging("completion/cnctl.bash").display(),
        quoted.join(" "),
        words.len() - 1
    );
    let out = run_ok(Command::new("bash").arg("-c").arg(script));
    stdout(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_offers_the_flags_and_commands_of_help() {
    let cnctl = help(&["cnctl"]);
    assert_eq!(complete("_cnctl", &["cnctl", "-"]), cnctl.options);
    assert_eq!(complete("_cnctl", &["cnctl", ""]), cnctl.commands);
    assert_eq!(
        complete("_cloud_network", &["cloud-network", "cnctl", "--json", ""]),
        cnctl.commands
    );
    let top = help(&[]);
    assert_eq!(
        complete("_cloud_network", &["cloud-network", "-"]),
        top.options
    );
    assert_eq!(
        complete("_cloud_network", &["cloud-network", ""]),
        top.commands
    );
    for sub in ["daemon", "emulate"] {
        assert_eq!(
            complete("_cloud_network", &["cloud-network", sub, "-"]),
            help(&[sub]).options,
            "{sub}"
        );
    }
}

#[test]
fn bash_completion_offers_the_arguments_of_commands() {
    assert_eq!(
        complete("_cnctl", &["cnctl", "status", ""]),
        set(&["links", "network", "system"])
    );
    assert_eq!(
        complete("_cnctl", &["cnctl", "--url", "127.0.0.1:5209", "show", "s"]),
        set(&["signature", "ssh-keys"])
    );
    assert_eq!(complete("_cnctl", &["cnctl", "--url", ""]), set(&[]));
    assert_eq!(
        complete(
            "_cloud_network",
            &["cloud-network", "emulate", "--provider", ""]
        ),
        ProviderKind::ALL
            .iter()
            .map(|p| p.name().to_string())
            .collect()
    );
}

// ---- install.sh ----

fn install(dest: &Path, env: &[(&str, &str)]) -> Output {
    run_ok(
        Command::new(packaging("install.sh"))
            .env("DESTDIR", dest)
            .env("CLOUD_NETWORK_BIN", BIN)
            .env_remove("PREFIX")
            .env_remove("SYSCONFDIR")
            .envs(env.iter().copied()),
    )
}

fn uninstall(dest: &Path) -> Output {
    run_ok(
        Command::new(packaging("install.sh"))
            .arg("uninstall")
            .env("DESTDIR", dest),
    )
}

/// Every file and symlink under `root`: relative path → "0644" or "-> target".
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("stat");
            let relative = path
                .strip_prefix(root)
                .expect("below root")
                .display()
                .to_string();
            if meta.is_dir() {
                pending.push(path);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).expect("readlink");
                found.insert(relative, format!("-> {}", target.display()));
            } else {
                found.insert(
                    relative,
                    format!("{:04o}", meta.permissions().mode() & 0o7777),
                );
            }
        }
    }
    found
}

fn expected_tree(prefix: &str, sysconfdir: &str) -> BTreeMap<String, String> {
    let entries = [
        ("bin/cloud-network", "0755"),
        ("bin/cnctl", "-> cloud-network"),
        ("lib/systemd/system/cloud-network.service", "0644"),
        ("lib/systemd/networkd.conf.d/cloud-network.conf", "0644"),
        ("lib/sysusers.d/cloud-network.conf", "0644"),
        ("lib/tmpfiles.d/cloud-network.conf", "0644"),
        ("share/man/man8/cloud-network.8", "0644"),
        ("share/man/man1/cnctl.1", "0644"),
        ("share/man/man5/cloud-network.toml.5", "0644"),
        ("share/bash-completion/completions/cnctl", "0644"),
        (
            "share/bash-completion/completions/cloud-network",
            "-> cnctl",
        ),
    ];
    let mut expected: BTreeMap<String, String> = entries
        .iter()
        .map(|(path, mode)| (format!("{prefix}/{path}"), mode.to_string()))
        .collect();
    expected.insert(
        format!("{sysconfdir}/cloud-network/cloud-network.toml"),
        "0644".to_string(),
    );
    expected
}

#[test]
fn install_puts_exactly_these_files_with_these_modes() {
    let dest = TempDir::new("pkg-install");
    install(dest.path(), &[]);
    assert_eq!(tree(dest.path()), expected_tree("usr", "etc"));
    let installed = fs::read(dest.path().join("usr/bin/cloud-network")).expect("binary");
    assert_eq!(installed, fs::read(BIN).expect("built binary"));
    let config = fs::read(dest.path().join("etc/cloud-network/cloud-network.toml")).expect("toml");
    assert_eq!(
        config,
        fs::read(packaging("cloud-network.toml")).expect("default")
    );
    let unit = fs::read(
        dest.path()
            .join("usr/lib/systemd/system/cloud-network.service"),
    );
    assert_eq!(
        unit.expect("unit"),
        fs::read(packaging("cloud-network.service")).expect("src")
    );
}

#[test]
fn install_never_overwrites_the_config_and_uninstall_keeps_only_it() {
    let dest = TempDir::new("pkg-reinstall");
    install(dest.path(), &[]);
    let config = dest.path().join("etc/cloud-network/cloud-network.toml");
    fs::write(&config, "[System]\nLogLevel=\"debug\"\n").expect("edit config");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod");
    let again = install(dest.path(), &[]);
    assert!(stdout(&again).contains("keeping the existing"));
    assert_eq!(
        fs::read_to_string(&config).expect("config"),
        "[System]\nLogLevel=\"debug\"\n"
    );
    uninstall(dest.path());
    let left: Vec<String> = tree(dest.path()).into_keys().collect();
    assert_eq!(
        left,
        vec!["etc/cloud-network/cloud-network.toml".to_string()]
    );
    assert_eq!(fs::metadata(&config).expect("kept").mode() & 0o777, 0o600);
}

#[test]
fn install_honours_prefix_and_sysconfdir() {
    let dest = TempDir::new("pkg-prefix");
    install(
        dest.path(),
        &[("PREFIX", "/opt/cn"), ("SYSCONFDIR", "/opt/cn/etc")],
    );
    assert_eq!(tree(dest.path()), expected_tree("opt/cn", "opt/cn/etc"));
    let unit = fs::read_to_string(
        dest.path()
            .join("opt/cn/lib/systemd/system/cloud-network.service"),
    )
    .expect("unit");
    let exec: Vec<&str> = unit
        .lines()
        .filter(|l| l.starts_with("ExecStart="))
        .collect();
    assert_eq!(exec, vec!["ExecStart=/opt/cn/bin/cloud-network"]);
}

#[test]
fn sysusers_and_tmpfiles_create_the_user_and_the_state_dir() {
    let dest = TempDir::new("pkg-sysusers");
    install(dest.path(), &[]);
    run_ok(Command::new("systemd-sysusers").arg(format!("--root={}", dest.path().display())));
    run_ok(
        Command::new("systemd-tmpfiles")
            .arg(format!("--root={}", dest.path().display()))
            .arg("--create"),
    );
    let passwd = fs::read_to_string(dest.path().join("etc/passwd")).expect("passwd");
    let user: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("cloud-network:"))
        .expect("user cloud-network")
        .split(':')
        .collect();
    assert_eq!(
        user[4..],
        ["cloud-network daemon", "/", "/usr/sbin/nologin"]
    );
    let uid: u32 = user[2].parse().expect("uid");
    assert!(uid > 0 && uid < 1000, "system uid {uid}");
    let state = fs::metadata(dest.path().join("run/cloud-network")).expect("state dir");
    assert!(state.is_dir());
    assert_eq!(state.mode() & 0o7777, 0o755);
    assert_eq!(
        (state.uid(), state.gid().to_string()),
        (uid, user[3].to_string())
    );
}

// ---- Debian package (needs cargo-deb and a release build: ignored unless asked for) ----

#[test]
#[ignore = "needs cargo-deb and a release build; run with --include-ignored, as .ci/run does"]
fn cargo_deb_builds_a_package_with_the_files() {
    let out_dir = TempDir::new("pkg-deb");
    run_ok(
        Command::new("cargo")
            .args(["deb", "--locked", "--output"])
            .arg(out_dir.path())
            .current_dir(TOP),
    );
    let deb = fs::read_dir(out_dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb");
    let listing = stdout(&run_ok(
        Command::new("dpkg-deb").arg("--contents").arg(&deb),
    ));
    for path in expected_tree("usr", "etc").keys() {
        let unit_elsewhere = path.ends_with(".service")
            && listing.contains("./lib/systemd/system/cloud-network.service");
        assert!(
            unit_elsewhere || listing.contains(&format!("./{path}")),
            "{path} not in the .deb:\n{listing}"
        );
    }
    let conffiles = stdout(&run_ok(
        Command::new("dpkg-deb")
            .arg("--info")
            .arg(&deb)
            .arg("conffiles"),
    ));
    assert_eq!(conffiles.trim(), "/etc/cloud-network/cloud-network.toml");
    let depends = stdout(&run_ok(
        Command::new("dpkg-deb")
            .arg("--field")
            .arg(&deb)
            .arg("Depends"),
    ));
    let libc6 = libc6_minimum(&depends).expect("a libc6 (>= X) dependency");
    assert!(
        libc6 <= vec![2, 34],
        "the binary must start on glibc 2.34 (RHEL 9, Amazon Linux 2023): Depends: {depends}"
    );
}

/// The version `libc6 (>= X)` in a Depends field, as numbers.
fn libc6_minimum(depends: &str) -> Option<Vec<u32>> {
    let version = depends
        .split(',')
        .map(str::trim)
        .find_map(|dep| dep.strip_prefix("libc6 (>= "))?
        .strip_suffix(')')?;
    version.split('.').map(|part| part.parse().ok()).collect()
}
