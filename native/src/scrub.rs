//! Keeps secret values out of everything the process prints: the loader
//! registers every secret it reads (`api_key`, any key under
//! `additional_endpoints`, other secret-named keys, passwords in URLs,
//! values a secret backend returned), and error messages, log lines,
//! `check-config` output and panic messages pass through [`scrub`] on the
//! way out. Messages are built not to carry values in the first place;
//! this is the net under them.

use std::io::Write;
use std::sync::RwLock;

use serde_json::Value;

/// What replaces a secret in output.
pub const MASK: &str = "********";

/// Shorter values are not registered: masking every `abc` in a message
/// would garble it, and no real key or password is that short.
const MIN_SECRET_LEN: usize = 6;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers `value` as a secret from now on.
pub fn register(value: &str) {
    let value = value.trim();
    if value.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_string());
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every registered secret masked.
pub fn scrub(text: &str) -> String {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// Is this key's value a secret? `api_key`, `app_key`, passwords,
/// tokens, and everything under `additional_endpoints` (URL → API keys).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    // The secret backend's settings name a command and its limits, not
    // secrets; its arguments may carry a token.
    if let Some(rest) = k.strip_prefix("secret_backend_") {
        return rest == "arguments" || rest == "config";
    }
    k.ends_with("key")
        || k.ends_with("additional_endpoints")
        || ["password", "secret", "token"]
            .iter()
            .any(|w| k.contains(w))
}

/// The password of every `scheme://user:password@host` in `text`.
pub fn url_passwords(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        rest = &rest[at + 3..];
        let end = rest
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        let authority = &rest[..end];
        if let Some(userinfo) = authority.rsplit_once('@').map(|(u, _)| u)
            && let Some((_, password)) = userinfo.split_once(':')
            && !password.is_empty()
        {
            out.push(password);
        }
    }
    out
}

/// `text` with the password of every URL in it masked.
pub fn mask_url_passwords(text: &str) -> String {
    let mut out = text.to_string();
    for p in url_passwords(text) {
        out = out.replace(&format!(":{p}@"), &format!(":{MASK}@"));
    }
    out
}

/// Registers every secret in a settings value: all strings under a
/// secret key, and URL passwords anywhere.
pub fn register_settings(map: &serde_json::Map<String, Value>) {
    fn walk(v: &Value, secret: bool) {
        match v {
            Value::String(s) => {
                if secret {
                    register(s);
                }
                for p in url_passwords(s) {
                    register(p);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, secret)),
            Value::Object(m) => {
                for (k, v) in m {
                    // Under `additional_endpoints` the map keys are URLs
                    // (with possible passwords), the values API keys.
                    for p in url_passwords(k) {
                        register(p);
                    }
                    walk(v, secret || is_secret_key(k));
                }
            }
            _ => {}
        }
    }
    for (k, v) in map {
        walk(v, is_secret_key(k));
    }
}

/// Registers what looks secret in configuration text that could not be
/// parsed: values of secret-named keys (`api_key: X`), items under a
/// secret key's block, and URL passwords.
pub fn register_text(text: &str) {
    let mut block_indent: Option<usize> = None;
    for line in text.lines() {
        for p in url_passwords(line) {
            register(p);
        }
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if block_indent.is_some_and(|b| indent <= b) && !body.starts_with('-') {
            block_indent = None;
        }
        let item = body.trim_start_matches('-').trim_start();
        let (key, value) = match item.split_once(':') {
            Some((k, v)) if !k.contains(' ') || k.starts_with(['"', '\'']) => {
                (k.trim().trim_matches(['"', '\'']), Some(v))
            }
            _ => ("", None),
        };
        let in_block = block_indent.is_some();
        if is_secret_key(key) || in_block {
            let value = value.unwrap_or(item);
            for token in
                value.split(|c: char| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}'))
            {
                register(token.trim_matches(['"', '\'']));
            }
            if in_block {
                register(item.trim_matches(['"', '\'']));
            }
        }
        if is_secret_key(key) && value.is_some_and(|v| v.trim().is_empty()) {
            block_indent = Some(indent);
        }
    }
}

/// Prints `dogstatsd: {message}` on stderr, secrets masked.
pub fn report(message: &dyn std::fmt::Display) {
    eprintln!("dogstatsd: {}", scrub(&message.to_string()));
}

/// A writer that masks secrets in what goes through it; tracing writes a
/// whole event per call, so a secret is never split across writes.
pub struct Scrubbed<W>(pub W);

impl<W: Write> Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Standard error with secrets masked (a `tracing` `MakeWriter`).
pub fn stderr() -> Scrubbed<std::io::Stderr> {
    Scrubbed(std::io::stderr())
}

/// Masks secrets in panic messages too.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "Box<dyn Any>".to_string());
        let thread = std::thread::current();
        let location = info
            .location()
            .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        eprintln!(
            "thread '{}' panicked{location}:\n{}",
            thread.name().unwrap_or("<unnamed>"),
            scrub(&message)
        );
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hook is process-wide, so the panic happens in a child: this
    /// test binary run again for this one test.
    #[test]
    fn panic_messages_are_scrubbed() {
        const SECRET: &str = "ZZpanicSecret77";
        if std::env::var_os("DSD_SCRUB_PANIC_CHILD").is_some() {
            register(SECRET);
            install_panic_hook();
            panic!("cannot use key {SECRET}");
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "scrub::tests::panic_messages_are_scrubbed",
                "--nocapture",
            ])
            .env("DSD_SCRUB_PANIC_CHILD", "1")
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{all}");
        assert!(all.contains(&format!("cannot use key {MASK}")), "{all}");
        assert!(!all.contains(SECRET), "{all}");
    }

    #[test]
    fn url_passwords_are_found() {
        assert_eq!(
            url_passwords("http://u:pw123456@proxy:3128/x and https://a@b https://x:y@z"),
            ["pw123456", "y"]
        );
        assert!(url_passwords("http://host:8080/path").is_empty());
        assert!(!is_secret_key("secret_backend_command"));
        assert!(is_secret_key("secret_backend_arguments"));
        assert!(is_secret_key("api_key") && is_secret_key("additional_endpoints"));
    }

    #[test]
    fn text_secrets_are_registered() {
        register_text(
            "hostname: h\napi_key: ZZtextkey123\nadditional_endpoints:\n  \"https://x\":\n    - ZZendpointkey1\n    - ZZendpointkey2\nproxy:\n  https: http://u:ZZproxypw@p\nlog_level: info\n",
        );
        let s = scrub("ZZtextkey123 ZZendpointkey1 ZZendpointkey2 ZZproxypw info hostname");
        assert_eq!(s, format!("{MASK} {MASK} {MASK} {MASK} info hostname"));
    }

    #[test]
    fn settings_secrets_are_registered() {
        let v = serde_json::json!({
            "api_key": "ZZmapkey0001",
            "additional_endpoints": {"https://u:ZZurlpw01@x": ["ZZmapkey0002"]},
            "dd_url": "http://a:ZZddurlpw@h",
            "hostname": "visible-host"
        });
        register_settings(v.as_object().unwrap());
        let s = scrub("ZZmapkey0001 ZZmapkey0002 ZZurlpw01 ZZddurlpw visible-host");
        assert_eq!(s, format!("{MASK} {MASK} {MASK} {MASK} visible-host"));
    }
}
