//! Loading the configuration the way the Agent does: a `datadog.yaml`
//! (YAML; JSON is valid YAML), then `DD_*` environment variables, over the
//! documented defaults. Unknown keys are ignored: a real `datadog.yaml`
//! carries the whole Agent's settings.

use std::path::Path;

use dogstatsd_core::config::Config;
use serde_json::{Map, Value};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{path}: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, on one line.
        reason: String,
    },
    /// The top level is not a map of keys.
    #[error("{path}: the top level must be a map of settings")]
    NotAMap {
        /// The file.
        path: String,
    },
    /// A key has a value of the wrong kind.
    #[error("invalid configuration: {0}")]
    Value(String),
    /// A key has a value of the wrong kind, and we know where it was set.
    #[error("invalid configuration in {origin}: {message}")]
    Sourced {
        /// The file, `DD_<KEY>` variable or "the command line".
        origin: String,
        /// What is wrong, starting with the key.
        message: String,
    },
}

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

/// Every key core or the daemon understands, for `DD_<KEY>` overrides.
/// The Agent binds environment variables key by key, so only known keys
/// are read.
fn known_keys() -> Vec<String> {
    let mut keys: Vec<String> = match serde_json::to_value(Config::default()) {
        Ok(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    keys.extend(crate::settings::DaemonSettings::keys());
    keys.extend(crate::capture::CaptureSettings::keys());
    keys.extend(
        crate::forwarder::config::SETTINGS_KEYS
            .iter()
            .map(|k| k.to_string()),
    );
    keys
}

/// Folds a multi-line parser message into one line.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: shown.clone(),
            source,
        })?;
        let value: Value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            // YAML 1.2 booleans only: with YAML 1.1's `y`/`n`/`on`/`off` a
            // mapper `name: y` would arrive as a boolean. Boolean settings
            // still accept those words through core's lenient readers.
            let mut opts = serde_saphyr::Options::default();
            opts.strict_booleans = true;
            serde_saphyr::from_str_with_options(&text, opts).map_err(|e| LoadError::Syntax {
                path: shown.clone(),
                reason: one_line(&e.to_string()),
            })?
        };
        match value {
            Value::Object(m) => settings = m,
            Value::Null => {}
            _ => return Err(LoadError::NotAMap { path: shown }),
        }
        for key in settings.keys() {
            sources.insert(key.clone(), shown.clone());
        }
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt as _;
            let holds_key = settings
                .get("api_key")
                .is_some_and(|v| v.as_str().is_none_or(|s| !s.is_empty()));
            for w in permission_warnings(path, meta.permissions().mode(), holds_key) {
                eprintln!("dogstatsd: warning: {w}");
            }
        }
    }
    let keys = known_keys();
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
    Ok((settings, sources))
}

/// Turns raw settings into core's configuration; the error names the key.
pub fn core_config(settings: &Map<String, Value>) -> Result<Config, LoadError> {
    // Deserialize key by key first so the message names the culprit.
    for (key, value) in settings {
        let single = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        if let Err(e) = serde_json::from_value::<Config>(single) {
            return Err(LoadError::Value(format!(
                "{key}: {}",
                one_line(&e.to_string())
            )));
        }
    }
    serde_json::from_value(Value::Object(settings.clone()))
        .map_err(|e| LoadError::Value(one_line(&e.to_string())))
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
        eprintln!("dogstatsd: {e}");
        std::process::ExitCode::from(2)
    };
    let (settings, sources) = load_all_sourced(path, env, overrides).map_err(|e| fail(&e))?;
    dogstatsd_core::frontend::Frontend::new(&settings.core)
        .map_err(|e| fail(&attribute(LoadError::Value(e.to_string()), &sources)))?;
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

    fn write(name: &str, text: &str) -> std::path::PathBuf {
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
