//! `ENC[handle]` values resolved with `secret_backend_command`, with the
//! Datadog Agent's protocol: the command (owned by this user or root,
//! no rights for others, none for the group either unless
//! `secret_backend_command_allow_group_exec_perm`) gets
//! `{"version":"1.0","secrets":[handles]}` on stdin and answers
//! `{"handle":{"value":"...","error":null}}` on stdout, within
//! `secret_backend_timeout` seconds and `secret_backend_output_max_size`
//! bytes. As in the Agent, any string value of the configuration may be
//! a handle; without a backend, a handle is a configuration error rather
//! than a literal sent to the intake.

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dogstatsd_core::config::de;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config_error::LoadError;

/// The protocol version sent to the backend.
const PAYLOAD_VERSION: &str = "1.0";

/// The Agent's secret backend settings; field names are its keys.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct BackendSettings {
    /// The executable; empty means no backend. Default empty.
    #[serde(deserialize_with = "de::string")]
    pub secret_backend_command: String,
    /// Its arguments. Default none.
    #[serde(deserialize_with = "de::string_list")]
    pub secret_backend_arguments: Vec<String>,
    /// Seconds it may run. Default 30.
    #[serde(deserialize_with = "de::int")]
    pub secret_backend_timeout: i64,
    /// Most bytes read from its stdout. Default 1 MiB.
    #[serde(deserialize_with = "de::int")]
    pub secret_backend_output_max_size: i64,
    /// Let the group read and execute the command. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub secret_backend_command_allow_group_exec_perm: bool,
    /// Strip trailing `\r`/`\n` from every value. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub secret_backend_remove_trailing_line_break: bool,
}

impl Default for BackendSettings {
    fn default() -> Self {
        Self {
            secret_backend_command: String::new(),
            secret_backend_arguments: Vec::new(),
            secret_backend_timeout: 30,
            secret_backend_output_max_size: 1024 * 1024,
            secret_backend_command_allow_group_exec_perm: false,
            secret_backend_remove_trailing_line_break: false,
        }
    }
}

impl BackendSettings {
    /// Every key this struct reads.
    pub fn keys() -> Vec<String> {
        crate::settings_map::keys_of::<Self>()
    }
}

/// The handle of an `ENC[handle]` value (spaces and tabs around it are
/// ignored, as the Agent does).
pub fn handle_of(value: &str) -> Option<&str> {
    value
        .trim_matches([' ', '\t'])
        .strip_prefix("ENC[")?
        .strip_suffix(']')
}

/// Where each handle appears: `(path, handle)`, path as `a.b[0]`.
fn find_handles(map: &Map<String, Value>) -> Vec<(String, String)> {
    fn walk(v: &Value, path: String, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) => {
                if let Some(h) = handle_of(s) {
                    out.push((path, h.to_string()));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{path}[{i}]"), out);
                }
            }
            Value::Object(m) => {
                for (k, v) in m {
                    walk(v, format!("{path}.{k}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (k, v) in map {
        // The backend's own settings are never handles.
        if !k.starts_with("secret_backend_") {
            walk(v, k.clone(), &mut out);
        }
    }
    out
}

/// Replaces every `ENC[...]` value in `map` with what the backend returns
/// for it; each resolved value is registered as a secret.
pub fn resolve(map: &mut Map<String, Value>) -> Result<(), LoadError> {
    let found = find_handles(map);
    let Some((first_path, _)) = found.first() else {
        return Ok(());
    };
    let backend: BackendSettings = crate::settings_map::read_keys(map)?;
    if backend.secret_backend_command.trim().is_empty() {
        return Err(LoadError::Value(format!(
            "{first_path}: the value is an encrypted secret (ENC[...]) but no secret_backend_command is configured to resolve it"
        )));
    }
    let mut handles: Vec<&str> = Vec::new();
    for (_, h) in &found {
        if !handles.contains(&h.as_str()) {
            handles.push(h);
        }
    }
    let values = fetch(&backend, &handles).map_err(|reason| {
        LoadError::Value(format!(
            "secret_backend_command: {reason} (resolving {first_path})"
        ))
    })?;
    for (path, handle) in &found {
        let value = values.get(handle.as_str()).ok_or_else(|| {
            LoadError::Value(format!(
                "{path}: secret handle {handle:?} was not resolved by the secret_backend_command"
            ))
        })?;
        crate::scrub::register(value);
        set_path(map, path, value);
    }
    Ok(())
}

/// Sets the string at `path` (as [`find_handles`] writes it).
fn set_path(map: &mut Map<String, Value>, path: &str, value: &str) {
    fn set(v: &mut Value, rest: &str, value: &str) {
        if rest.is_empty() {
            *v = Value::String(value.to_string());
        } else if let Some(after) = rest.strip_prefix('[') {
            let (i, tail) = after.split_once(']').unwrap_or((after, ""));
            if let (Value::Array(items), Ok(i)) = (v, i.parse::<usize>())
                && let Some(item) = items.get_mut(i)
            {
                set(item, tail, value);
            }
        } else if let Some(after) = rest.strip_prefix('.')
            && let Value::Object(m) = v
            // Keys may hold dots (URLs): the longest key that prefixes
            // the rest of the path is the one.
            && let Some(k) = m
                .keys()
                .filter(|k| {
                    after.starts_with(k.as_str())
                        && matches!(after[k.len()..].chars().next(), None | Some('.' | '['))
                })
                .max_by_key(|k| k.len())
                .cloned()
            && let Some(child) = m.get_mut(&k)
        {
            set(child, &after[k.len()..], value);
        }
    }
    let mut root = Value::Object(std::mem::take(map));
    set(&mut root, &format!(".{path}"), value);
    if let Value::Object(m) = root {
        *map = m;
    }
}

/// One value of the backend's answer.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Runs the backend once for `handles`; the message on failure never
/// holds a value.
fn fetch(
    backend: &BackendSettings,
    handles: &[&str],
) -> Result<std::collections::HashMap<String, String>, String> {
    let command = executable(&backend.secret_backend_command)?;
    check_rights(
        &command,
        backend.secret_backend_command_allow_group_exec_perm,
    )?;
    let timeout = Duration::from_secs(
        u64::try_from(backend.secret_backend_timeout)
            .ok()
            .filter(|s| *s > 0)
            .ok_or("secret_backend_timeout must be positive")?,
    );
    let max = usize::try_from(backend.secret_backend_output_max_size)
        .ok()
        .filter(|m| *m > 0)
        .ok_or("secret_backend_output_max_size must be positive")?;
    let payload = serde_json::json!({"version": PAYLOAD_VERSION, "secrets": handles}).to_string();
    let output = run(
        &command,
        &backend.secret_backend_arguments,
        &payload,
        timeout,
        max,
    )?;
    let answers: std::collections::HashMap<String, Answer> = serde_json::from_slice(&output)
        .map_err(|e| format!("its output is not the expected JSON map: {e}"))?;
    let mut out = std::collections::HashMap::new();
    for &h in handles {
        let a = answers
            .get(h)
            .ok_or_else(|| format!("secret handle {h:?} was not resolved"))?;
        if let Some(e) = a.error.as_deref().filter(|e| !e.is_empty()) {
            return Err(format!("an error occurred while resolving {h:?}: {e}"));
        }
        let mut value = a.value.clone().unwrap_or_default();
        if backend.secret_backend_remove_trailing_line_break {
            value.truncate(value.trim_end_matches(['\r', '\n']).len());
        }
        if value.is_empty() {
            return Err(format!("resolved secret for {h:?} is empty"));
        }
        out.insert(h.to_string(), value);
    }
    Ok(out)
}

/// The command as a path: as given when it names a path, else looked up
/// in `PATH` as the Agent's `exec.Command` does.
fn executable(command: &str) -> Result<PathBuf, String> {
    let command = command.trim();
    if command.contains('/') {
        return Ok(PathBuf::from(command));
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(command))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{command:?} not found in PATH"))
}

/// The Agent's rule: nobody but the owner may write the command, and
/// nobody but the owner (and the group, when allowed, read and execute
/// only) may run it; the owner is this user or root.
#[cfg(unix)]
fn check_rights(path: &Path, allow_group_exec: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("invalid executable {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("invalid executable {shown}: not a regular file"));
    }
    let mode = meta.mode() & 0o777;
    if allow_group_exec {
        if mode & 0o027 != 0 {
            return Err(format!(
                "invalid executable {shown} (mode {mode:04o}): 'others' have rights on it or 'group' may write it"
            ));
        }
    } else if mode & 0o077 != 0 {
        return Err(format!(
            "invalid executable {shown} (mode {mode:04o}): 'group' or 'others' have rights on it"
        ));
    }
    if mode & 0o100 == 0 {
        return Err(format!(
            "invalid executable {shown} (mode {mode:04o}): its owner cannot execute it"
        ));
    }
    // `/proc/self` belongs to the process's effective user.
    #[cfg(target_os = "linux")]
    if let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid())
        && meta.uid() != me
        && meta.uid() != 0
    {
        return Err(format!(
            "invalid executable {shown}: owned by uid {}, neither this user ({me}) nor root",
            meta.uid()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_rights(_path: &Path, _allow_group_exec: bool) -> Result<(), String> {
    Ok(())
}

/// Runs `command` with `input` on stdin; its stdout, at most `max` bytes,
/// within `timeout`; killed otherwise.
fn run(
    command: &Path,
    args: &[String],
    input: &str,
    timeout: Duration,
    max: usize,
) -> Result<Vec<u8>, String> {
    let shown = command.display();
    let mut child = Command::new(command)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let mut stdin = child.stdin.take();
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(input.as_bytes());
        }
    });
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let over = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let over_flag = std::sync::Arc::clone(&over);
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        // One byte over the limit tells "too long" from "exactly max".
        let _ = (&mut stdout).take(max as u64 + 1).read_to_end(&mut out);
        if out.len() > max {
            over_flag.store(true, std::sync::atomic::Ordering::Release);
        }
        out
    });
    let too_long =
        || format!("{shown}: output exceeded {max} bytes (secret_backend_output_max_size)");
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{shown} timed out after {}s (secret_backend_timeout)",
                    timeout.as_secs()
                ));
            }
            Ok(None) if over.load(std::sync::atomic::Ordering::Acquire) => {
                // It would block writing the rest: stop it now.
                let _ = child.kill();
                let _ = child.wait();
                return Err(too_long());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for {shown}: {e}")),
        }
    };
    let _ = writer.join();
    let out = reader.join().map_err(|_| "reading its output failed")?;
    if out.len() > max {
        return Err(too_long());
    }
    if !status.success() {
        return Err(format!("{shown} failed: {status}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_found_everywhere_and_set_back() {
        assert_eq!(handle_of(" ENC[a b] "), Some("a b"));
        assert_eq!(handle_of("ENC[x"), None);
        assert_eq!(handle_of("plain"), None);
        let mut m = serde_json::json!({
            "api_key": "ENC[k]",
            "additional_endpoints": {"https://a.example.com": ["ENC[e1]", "plain"]},
            "secret_backend_command": "ENC[not-me]",
            "hostname": "h"
        })
        .as_object()
        .cloned()
        .unwrap();
        let found = find_handles(&m);
        assert_eq!(found.len(), 2, "{found:?}");
        for (path, h) in &found {
            set_path(&mut m, path, &format!("resolved-{h}"));
        }
        assert_eq!(m["api_key"], "resolved-k");
        assert_eq!(
            m["additional_endpoints"]["https://a.example.com"][0],
            "resolved-e1"
        );
        assert_eq!(
            m["additional_endpoints"]["https://a.example.com"][1],
            "plain"
        );
    }

    #[test]
    fn no_backend_is_an_error_naming_the_key() {
        let mut m = serde_json::json!({"api_key": "ENC[k]"})
            .as_object()
            .cloned()
            .unwrap();
        let e = resolve(&mut m).unwrap_err().to_string();
        assert!(
            e.contains("api_key") && e.contains("secret_backend_command"),
            "{e}"
        );
    }
}
