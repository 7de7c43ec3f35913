//! Loading the configuration the way the Agent does: a `datadog.yaml`
//! (YAML; JSON is valid YAML), then `DD_*` environment variables, over the
//! documented defaults. Keys this server does not read are ignored, each
//! with a warning ([`crate::keys`]): a real `datadog.yaml` carries the
//! whole Agent's settings.

use std::path::{Path, PathBuf};

use dogstatsd_core::config::Config;
use serde_json::{Map, Value};

pub use crate::config_error::LoadError;
use crate::config_error::one_line;
pub use crate::settings::core_config;

/// Where each key's value came from: the file's path, the `DD_<KEY>`
/// variable, or the command line.
pub type Sources = std::collections::HashMap<String, String>;

/// Names where the offending key was set, when the message names a key
/// whose origin is known.
fn attribute(e: LoadError, sources: &Sources) -> LoadError {
    let LoadError::Value(message) = e else {
        return e;
    };
    match origin_of(&message, sources) {
        Some(origin) => LoadError::Sourced { origin, message },
        None => LoadError::Value(message),
    }
}

/// The origin of the first key `message` names as `key:`.
fn origin_of(message: &str, sources: &Sources) -> Option<String> {
    let mut best: Option<(usize, usize, &String)> = None;
    for (key, origin) in sources {
        let at = if message.starts_with(&format!("{key}:")) {
            Some(0)
        } else {
            message.find(&format!(" {key}:")).map(|i| i + 1)
        };
        // Earliest mention wins; the longer key on a tie
        // (`use_v2_api_series` over `series`).
        if let Some(at) = at
            && best.is_none_or(|(b, len, _)| at < b || (at == b && key.len() > len))
        {
            best = Some((at, key.len(), origin));
        }
    }
    best.map(|(_, _, o)| o.clone())
}

/// Warnings about who else may read or change the configuration file
/// (`mode` is its Unix permission bits). Like the Agent, the daemon still
/// loads such a file; its packages install `datadog.yaml` as `0640`.
pub fn permission_warnings(path: &Path, mode: u32, holds_api_key: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mode = mode & 0o7777;
    if mode & 0o002 != 0 {
        out.push(format!(
            "{} is writable by every user (mode {mode:04o}): anyone on this machine can change where the daemon sends data; run `chmod o-w` on it",
            path.display()
        ));
    }
    if holds_api_key && mode & 0o004 != 0 {
        out.push(format!(
            "{} holds api_key and is readable by every user (mode {mode:04o}); make it 0640 or 0600",
            path.display()
        ));
    }
    out
}

/// The most a configuration file may hold (the Agent's own
/// `datadog.yaml` template is about 200 KiB).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// The file `--config` names: the path itself, or `datadog.yaml` inside
/// it when it is a directory, as the Agent's `-c` reads it.
pub fn config_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("datadog.yaml")
    } else {
        path.to_path_buf()
    }
}

/// What a non-regular file is, for the message.
fn file_kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Reads the configuration file and its permission bits: a regular file
/// of at most [`MAX_CONFIG_BYTES`]. It is opened non-blocking so a FIFO
/// fails at once instead of waiting for a writer, and checked on the open
/// descriptor so a swapped path cannot slip a device in.
fn read_config_file(path: &Path) -> Result<(String, u32), LoadError> {
    use std::io::Read as _;
    let shown = path.display().to_string();
    let read_error = |source| LoadError::Read {
        path: shown.clone(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.custom_flags(nix::libc::O_NONBLOCK);
    }
    #[cfg(not(target_os = "linux"))]
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        return Err(LoadError::NotAFile {
            path: shown,
            kind: file_kind(meta.file_type()),
        });
    }
    let file = opts.open(path).map_err(read_error)?;
    let meta = file.metadata().map_err(read_error)?;
    if !meta.is_file() {
        return Err(LoadError::NotAFile {
            path: shown,
            kind: file_kind(meta.file_type()),
        });
    }
    let too_large = || LoadError::TooLarge {
        path: shown.clone(),
        limit: MAX_CONFIG_BYTES,
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt as _;
        meta.permissions().mode()
    };
    #[cfg(not(unix))]
    let mode = 0;
    Ok((text, mode))
}

/// A YAML syntax error as "line L, column C, in `key`: what": where it
/// is and under which top-level key, never the text around it.
fn syntax_reason(text: &str, e: &serde_saphyr::Error) -> String {
    let what = crate::scrub::scrub(&one_line(&e.without_snippet().to_string()));
    let Some(at) = e.location() else {
        return format!("YAML syntax error: {what}");
    };
    let line = at.line();
    // The parser's message ends with the position; it is given once.
    let what = what
        .strip_suffix(&format!(" at line {line}, column {}", at.column()))
        .unwrap_or(&what);
    let key = usize::try_from(line)
        .ok()
        .and_then(|l| top_level_key_at(text, l));
    let under = key.map(|k| format!(", in `{k}`")).unwrap_or_default();
    format!(
        "YAML syntax error at line {line}, column {}{under}: {what}",
        at.column()
    )
}

/// The top-level keys of YAML `text` with their 1-based line numbers:
/// each unindented `key:` line.
fn top_level_keys(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with([' ', '\t', '#', '-']) && !l.trim().is_empty())
        .filter_map(|(i, l)| {
            l.split_once(':')
                .map(|(k, _)| (i + 1, k.trim().trim_matches(['"', '\''])))
        })
        .filter(|(_, k)| !k.is_empty() && !k.contains(char::is_whitespace))
}

/// The top-level key whose block holds line `line`: the last one at or
/// above it.
fn top_level_key_at(text: &str, line: usize) -> Option<String> {
    top_level_keys(text)
        .take_while(|(at, _)| *at <= line)
        .last()
        .map(|(_, k)| k.to_string())
}

/// Reads the raw settings map: the YAML file (if any) overlaid with `DD_*`
/// variables from `env`.
pub fn load_settings(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Map<String, Value>, LoadError> {
    load_sourced(path, env).map(|(settings, _)| settings)
}

/// [`load_settings`] plus where each key came from. Warns on stderr when
/// the file's permissions let other users change it (or read the API
/// key).
pub fn load_sourced(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Map<String, Value>, Sources), LoadError> {
    let mut settings = Map::new();
    let mut sources = Sources::new();
    if let Some(path) = path {
        let path = &config_file(path);
        let shown = path.display().to_string();
        let (text, mode) = read_config_file(path)?;
        let value: Value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            // YAML 1.2 booleans only: with YAML 1.1's `y`/`n`/`on`/`off` a
            // mapper `name: y` would arrive as a boolean. Boolean settings
            // still accept those words through core's lenient readers.
            let mut opts = serde_saphyr::Options::default();
            opts.strict_booleans = true;
            // No snippet: it would print the lines around the error,
            // `api_key: ...` included.
            opts.with_snippet = false;
            serde_saphyr::from_str_with_options(&text, opts).map_err(|e| {
                crate::scrub::register_text(&text);
                LoadError::Syntax {
                    path: shown.clone(),
                    reason: syntax_reason(&text, &e),
                }
            })?
        };
        match value {
            Value::Object(m) => settings = m,
            Value::Null => {}
            _ => return Err(LoadError::NotAMap { path: shown }),
        }
        // Messages about a key name the file and its line.
        let mut lines = std::collections::HashMap::new();
        for (at, key) in top_level_keys(&text) {
            lines.entry(key).or_insert(at);
        }
        for key in settings.keys() {
            let origin = match lines.get(key.as_str()) {
                Some(at) => format!("{shown}:{at}"),
                None => shown.clone(),
            };
            sources.insert(key.clone(), origin);
        }
        #[cfg(unix)]
        {
            let holds_key = settings
                .get("api_key")
                .is_some_and(|v| v.as_str().is_none_or(|s| !s.is_empty()));
            for w in permission_warnings(path, mode, holds_key) {
                eprintln!("dogstatsd: warning: {w}");
            }
        }
        #[cfg(not(unix))]
        let _ = mode;
    }
    let configured_key = settings
        .get("api_key")
        .and_then(Value::as_str)
        .is_some_and(|k| !k.trim().is_empty());
    let keys = crate::keys::settings_keys();
    for (name, value) in env {
        let Some(key) = name.strip_prefix("DD_") else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if keys.contains(&key) {
            sources.insert(key.clone(), name);
            settings.insert(key, Value::String(value));
        }
    }
    crate::scrub::register_settings(&settings);
    crate::secrets::resolve(&mut settings).map_err(|e| attribute(e, &sources))?;
    // An empty DD_API_KEY over a configured key would silently turn the
    // forwarder off and print to stdout instead.
    if configured_key
        && let Some(origin) = sources.get("api_key").filter(|o| o.starts_with("DD_"))
        && settings
            .get("api_key")
            .and_then(Value::as_str)
            .is_some_and(|k| k.trim().is_empty())
    {
        return Err(LoadError::Sourced {
            origin: origin.clone(),
            message: format!(
                "api_key: {origin} is set but empty, overriding the api_key of the configuration file; unset {origin} or give it a key"
            ),
        });
    }
    Ok((settings, sources))
}

/// Loads core's configuration from an optional file and the process
/// environment.
pub fn load(path: Option<&Path>) -> Result<Config, LoadError> {
    let (settings, sources) = load_sourced(path, std::env::vars())?;
    let mut cfg = core_config(&settings).map_err(|e| attribute(e, &sources))?;
    if cfg.hostname.is_empty() {
        cfg.hostname = detect_hostname().unwrap_or_default();
    }
    Ok(cfg)
}

/// Loads core's and the daemon's settings: the file, then `DD_*`
/// variables from `env`, then `overrides` (command-line flags, as raw
/// values so they are validated like any other source).
pub fn load_all(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: impl IntoIterator<Item = (String, Value)>,
) -> Result<crate::settings::Settings, LoadError> {
    load_all_sourced(path, env, overrides).map(|(s, _)| s)
}

/// [`load_all`] plus where each key came from. Errors name the file,
/// variable or flag that set the offending key.
fn load_all_sourced(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: impl IntoIterator<Item = (String, Value)>,
) -> Result<(crate::settings::Settings, Sources), LoadError> {
    let (mut settings, mut sources) = load_sourced(path, env)?;
    for (key, value) in overrides {
        sources.insert(key.clone(), "the command line".to_string());
        settings.insert(key, value);
    }
    let mut all =
        crate::settings::Settings::from_settings(&settings).map_err(|e| attribute(e, &sources))?;
    if all.core.hostname.is_empty() {
        all.core.hostname = detect_hostname().unwrap_or_default();
    }
    if !all.daemon.api_key.is_empty() {
        let fwd = crate::forwarder::ForwarderConfig::from_settings(&settings, &all.core.hostname)
            .map_err(|e| attribute(LoadError::Value(e.to_string()), &sources))?;
        all.forwarder = Some(fwd);
    }
    Ok((all, sources))
}

/// [`load_all`] plus the checks only core can make (mapper profiles,
/// `dogstatsd_eol_required`): the settings, or the exit status after
/// printing why not (2, one line).
pub fn load_checked(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: impl IntoIterator<Item = (String, Value)>,
) -> Result<crate::settings::Settings, std::process::ExitCode> {
    let fail = |e: &dyn std::fmt::Display| {
        crate::scrub::report(e);
        std::process::ExitCode::from(crate::exit::CONFIG)
    };
    let env: Vec<(String, String)> = env.into_iter().collect();
    let names: Vec<String> = env.iter().map(|(k, _)| k.clone()).collect();
    let (settings, sources) = load_all_sourced(path, env, overrides).map_err(|e| fail(&e))?;
    dogstatsd_core::frontend::Frontend::new(&settings.core)
        .map_err(|e| fail(&attribute(LoadError::Value(e.to_string()), &sources)))?;
    // Keys nobody reads: one line each, the exit code unchanged.
    let file = path.map(|p| config_file(p).display().to_string());
    let in_file = |origin: &String| {
        file.as_ref()
            .is_some_and(|f| origin == f || origin.starts_with(&format!("{f}:")))
    };
    let mut from_file: Vec<(&String, &String)> = sources
        .iter()
        .filter(|(_, origin)| in_file(origin))
        .collect();
    from_file.sort();
    for w in crate::keys::warnings(from_file, &names) {
        eprintln!("dogstatsd: {w}");
    }
    Ok(settings)
}

/// The machine's hostname, as the Agent falls back to it when `hostname`
/// is not configured.
pub fn detect_hostname() -> Option<String> {
    let from_file = |p: &str| std::fs::read_to_string(p).ok();
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dsd-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn yaml_then_env() {
        let p = write(
            "a.yaml",
            "hostname: h1\napi_key: secret\ndogstatsd_tags: [a:b]\ndogstatsd_mapper_profiles:\n  - name: p\n    prefix: 'x.'\n    mappings:\n      - match: 'x.*'\n        name: y\n        tags: {k: '$1'}\n",
        );
        let env = [
            ("DD_HOSTNAME".to_string(), "h2".to_string()),
            ("DD_API_KEY".to_string(), "from-env".to_string()),
            ("DD_UNRELATED".to_string(), "x".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let settings = load_settings(Some(&p), env).unwrap();
        assert_eq!(
            settings["api_key"], "from-env",
            "forwarder keys read from DD_*"
        );
        let c = core_config(&settings).unwrap();
        assert_eq!(c.hostname, "h2");
        assert_eq!(c.dogstatsd_tags, ["a:b"]);
        assert_eq!(c.dogstatsd_mapper_profiles[0].mappings[0].tags["k"], "$1");
    }

    #[test]
    fn bad_value_names_the_key() {
        let p = write("b.yaml", "dogstatsd_mapper_cache_size: lots\n");
        let e = core_config(&load_settings(Some(&p), []).unwrap()).unwrap_err();
        assert!(e.to_string().contains("dogstatsd_mapper_cache_size"), "{e}");
    }

    #[test]
    fn errors_name_where_the_key_was_set() {
        let p = write("d.yaml", "dogstatsd_port: 70000\nhostname: h\n");
        let e = load_all(Some(&p), [], []).unwrap_err().to_string();
        assert!(e.contains("d.yaml") && e.contains("dogstatsd_port"), "{e}");
        let ok = write("d2.yaml", "hostname: h\n");
        let env = [("DD_DOGSTATSD_QUEUE_SIZE".to_string(), "lots".to_string())];
        let e = load_all(Some(&ok), env, []).unwrap_err().to_string();
        assert!(e.contains("DD_DOGSTATSD_QUEUE_SIZE"), "{e}");
        let flags = [("dogstatsd_port".to_string(), Value::from("x"))];
        let e = load_all(Some(&p), [], flags).unwrap_err().to_string();
        assert!(
            e.contains("the command line") && e.contains("dogstatsd_port"),
            "{e}"
        );
        let p = write("e.yaml", "api_key: k\nforwarder_timeout: soon\n");
        let e = load_all(Some(&p), [], []).unwrap_err().to_string();
        assert!(
            e.contains("e.yaml") && e.contains("forwarder_timeout"),
            "{e}"
        );
    }

    #[test]
    fn loose_permissions_are_warned_about() {
        let p = Path::new("/etc/datadog.yaml");
        assert!(permission_warnings(p, 0o100640, true).is_empty());
        assert!(permission_warnings(p, 0o100644, false).is_empty());
        let w = permission_warnings(p, 0o100666, true);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("/etc/datadog.yaml") && w[0].contains("0666"),
            "{w:?}"
        );
        assert!(w[1].contains("api_key"), "{w:?}");
    }

    #[test]
    fn syntax_error_is_one_line() {
        let p = write("c.yaml", "a: [1, 2\nb: :\n");
        let e = load_settings(Some(&p), []).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("c.yaml"), "{e}");
    }
}
