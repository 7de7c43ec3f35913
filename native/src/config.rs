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
    let mut settings = Map::new();
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
    }
    let keys = known_keys();
    for (name, value) in env {
        let Some(key) = name.strip_prefix("DD_") else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if keys.contains(&key) {
            settings.insert(key, Value::String(value));
        }
    }
    Ok(settings)
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
    let settings = load_settings(path, std::env::vars())?;
    let mut cfg = core_config(&settings)?;
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
    let mut settings = load_settings(path, env)?;
    settings.extend(overrides);
    let mut all = crate::settings::Settings::from_settings(&settings)?;
    if all.core.hostname.is_empty() {
        all.core.hostname = detect_hostname().unwrap_or_default();
    }
    if !all.daemon.api_key.is_empty() {
        let fwd = crate::forwarder::ForwarderConfig::from_settings(&settings, &all.core.hostname)
            .map_err(|e| LoadError::Value(e.to_string()))?;
        all.forwarder = Some(fwd);
    }
    Ok(all)
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
    let settings = load_all(path, env, overrides).map_err(|e| fail(&e))?;
    dogstatsd_core::pipeline::Processor::new(&settings.core)
        .map_err(|e| fail(&format!("invalid configuration: {e}")))?;
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
    fn syntax_error_is_one_line() {
        let p = write("c.yaml", "a: [1, 2\nb: :\n");
        let e = load_settings(Some(&p), []).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("c.yaml"), "{e}");
    }
}
