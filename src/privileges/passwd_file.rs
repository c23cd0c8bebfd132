//! A user's entry in `/etc/passwd`, the file NSS's `files` source reads, parsed here: lines of
//! `name:password:uid:gid:gecos:home:shell` (passwd(5)), blank lines and `#` comments skipped,
//! the first entry of a name the one that counts, as glibc's parser does. The file is read as
//! bytes: another user's GECOS field need not be UTF-8. Another user's malformed line is
//! skipped, as glibc skips it; a malformed line of the name looked for is an error naming the
//! line, not a user silently missing (the daemon would then stay root).
//!
//! Parsed in Rust rather than with libc's `fgetpwent_r`: that parser and the stdio code under
//! it run nowhere else in the daemon, and each 64 KiB of libc's code a call touches stays
//! resident (tests/benches/README.md, "Memory: libc's code").

use std::fmt;
use std::io;
use std::path::Path;

/// Why the name's own line could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadEntry {
    /// The line's number, from 1.
    pub(super) line: usize,
    pub(super) reason: String,
}

impl fmt::Display for BadEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// `name`'s uid and gid in the passwd file at `path`; `None` when the file has no entry for
/// it or does not exist.
pub(super) fn lookup(path: &Path, name: &str) -> io::Result<Option<(u32, u32)>> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    find(&text, name).map_err(|bad| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} {bad}", path.display()),
        )
    })
}

/// `name`'s uid and gid in the text of a passwd file.
pub(super) fn find(text: &[u8], name: &str) -> Result<Option<(u32, u32)>, BadEntry> {
    for (at, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii_start();
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let mut fields = line.splitn(7, |&b| b == b':');
        if fields.next() != Some(name.as_bytes()) {
            continue;
        }
        let bad = |reason: String| BadEntry {
            line: at + 1,
            reason,
        };
        let rest: Vec<&[u8]> = fields.collect();
        if rest.len() != 6 {
            return Err(bad(format!(
                "{} fields where passwd(5) has 7",
                rest.len() + 1
            )));
        }
        let uid = id_field(rest[1]).ok_or_else(|| bad(not_an_id("uid", rest[1])))?;
        let gid = id_field(rest[2]).ok_or_else(|| bad(not_an_id("gid", rest[2])))?;
        return Ok(Some((uid, gid)));
    }
    Ok(None)
}

/// A decimal id, digits only, that fits 32 bits.
fn id_field(field: &[u8]) -> Option<u32> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn not_an_id(what: &str, field: &[u8]) -> String {
    format!(
        "the {what} '{}' is not a number of at most 32 bits",
        String::from_utf8_lossy(field).escape_debug()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n\
        # the service user\n\
        \n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        jos\xe9:x:1000:1000:Jos\xe9 \xc9:/home/jose:/bin/sh\n\
        cloud-network:x:998:997:cloud-network:/var/lib/cloud-network:/usr/sbin/nologin\n\
        cloud-network:x:5:5::/:/bin/false\n";

    #[test]
    fn finds_the_first_entry_of_a_name_past_comments_and_other_encodings() {
        assert_eq!(find(PASSWD, "cloud-network"), Ok(Some((998, 997))));
        assert_eq!(find(PASSWD, "root"), Ok(Some((0, 0))));
        assert_eq!(find(PASSWD, "nobody"), Ok(Some((65534, 65534))));
    }

    #[test]
    fn a_missing_name_or_a_prefix_of_one_is_not_found() {
        assert_eq!(find(PASSWD, "cloud"), Ok(None));
        assert_eq!(find(PASSWD, "cloud-network-2"), Ok(None));
        assert_eq!(find(b"", "root"), Ok(None));
        assert_eq!(find(b"# root:x:0:0::/:/bin/sh\n", "root"), Ok(None));
    }

    #[test]
    fn leading_blanks_and_a_last_line_without_newline_are_read() {
        assert_eq!(find(b"  \tsvc:x:7:8::/:/bin/sh", "svc"), Ok(Some((7, 8))));
        assert_eq!(find(b"svc:x:7:8::/:/bin/sh\r\n", "svc"), Ok(Some((7, 8))));
    }

    #[test]
    fn another_users_malformed_line_is_skipped() {
        let text = b"broken:x:abc\nsvc:x:7:8::/:/bin/sh\n";
        assert_eq!(find(text, "svc"), Ok(Some((7, 8))));
    }

    #[test]
    fn the_names_own_malformed_line_is_an_error_naming_it() {
        let cases: [(&[u8], &str); 5] = [
            (b"svc:x:7\n", "3 fields where passwd(5) has 7"),
            (
                b"root:x:0:0::/:/bin/sh\nsvc:x:seven:8::/:/bin/sh\n",
                "the uid 'seven' is not a number of at most 32 bits",
            ),
            (
                b"svc:x:7:-8::/:/bin/sh\n",
                "the gid '-8' is not a number of at most 32 bits",
            ),
            (
                b"svc:x:4294967296:8::/:/bin/sh\n",
                "the uid '4294967296' is not a number of at most 32 bits",
            ),
            (
                b"svc:x::8::/:/bin/sh\n",
                "the uid '' is not a number of at most 32 bits",
            ),
        ];
        for (text, reason) in cases {
            let err = find(text, "svc").expect_err("a malformed entry");
            assert_eq!(err.reason, reason);
        }
        let err = find(b"root:x:0:0::/:/bin/sh\nsvc:x:seven:8::/:/bin/sh\n", "svc")
            .expect_err("a malformed entry");
        assert_eq!(
            err.to_string(),
            "line 2: the uid 'seven' is not a number of at most 32 bits"
        );
    }

    #[test]
    fn a_missing_file_has_no_entry_and_a_bad_line_names_the_file() {
        struct Removed(std::path::PathBuf);
        impl Drop for Removed {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = Removed(std::env::temp_dir().join(format!("cn-passwd-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).expect("make the dir");
        let path = dir.0.join("passwd");
        assert_eq!(lookup(&path, "svc").expect("no file"), None);
        std::fs::write(&path, b"svc:x:7:8:\xff:/:/bin/sh\n").expect("write");
        assert_eq!(lookup(&path, "svc").expect("read"), Some((7, 8)));
        std::fs::write(&path, b"svc:x:7:x8::/:/bin/sh\n").expect("write");
        let err = lookup(&path, "svc").expect_err("a bad line");
        assert_eq!(
            err.to_string(),
            format!(
                "{} line 1: the gid 'x8' is not a number of at most 32 bits",
                path.display()
            )
        );
    }
}
