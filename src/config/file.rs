//! Reading the config file from disk, defensively: which file (`--config` or the default),
//! only a regular file of at most 1 MiB, opened without blocking; a missing default file
//! means the defaults.
use super::{parse, ConfigError, Loaded, DEFAULT_PATH};
use std::fs::OpenOptions;
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest config file read; anything bigger is refused unread.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads and parses the file at start: a file that does not exist means the defaults.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    match read_text(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Loaded::default()),
        read => parse_read(read, path),
    }
}

/// Reads and parses the file on reload (SIGHUP): a missing file is an error like any other,
/// so the running config stays.
pub fn load_existing(path: &Path) -> Result<Loaded, ConfigError> {
    parse_read(read_text(path), path)
}

fn parse_read(read: io::Result<String>, path: &Path) -> Result<Loaded, ConfigError> {
    match read {
        Ok(text) => parse(&text, path),
        Err(source) => Err(ConfigError::Read {
            file: path.to_path_buf(),
            source,
        }),
    }
}

/// The config file to read: the one named by `--config`, which must exist, or else the
/// default path, which may be missing (then every key has its default).
pub fn chosen_path(named: Option<&Path>) -> Result<PathBuf, ConfigError> {
    match named {
        Some(file) if std::fs::metadata(file).is_err_and(|e| e.kind() == ErrorKind::NotFound) => {
            Err(ConfigError::Missing {
                file: file.to_path_buf(),
            })
        }
        Some(file) => Ok(file.to_path_buf()),
        None => Ok(PathBuf::from(DEFAULT_PATH)),
    }
}

/// The file's text: only a regular file (a symlink to one is fine) of at most
/// [`MAX_CONFIG_BYTES`]. Opened without blocking, so a FIFO cannot hang the read either.
fn read_text(path: &Path) -> io::Result<String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let kind = file_kind(&meta.file_type());
        let reason = format!("not a regular file ({kind})");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, reason));
    }
    let too_big = |size: u64| {
        let reason = format!("larger than 1 MiB ({size} bytes)");
        io::Error::new(io::ErrorKind::InvalidData, reason)
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big(text.len() as u64));
    }
    Ok(text)
}

fn file_kind(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}
