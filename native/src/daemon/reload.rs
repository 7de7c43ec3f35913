//! SIGHUP: read the configuration again, as `systemctl reload` asks.
//!
//! The new configuration is validated first (the same checks as at
//! start); a bad one keeps the running configuration and says why. What
//! can change in a running daemon is applied (the log level); every other
//! changed key is named in the log as taking effect at the next restart.
//! A reload touches no socket, queue or bucket, so nothing received is
//! lost across it.

use serde_json::Value;

use super::command::RunArgs;
use super::notify;
use crate::logging::LogHandle;
use crate::settings::Settings;

/// What a reload did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Reloaded {
    /// Keys applied to the running daemon.
    pub(crate) applied: Vec<String>,
    /// Keys that changed but need a restart.
    pub(crate) need_restart: Vec<String>,
}

/// The running configuration and how to change what can change live.
pub(crate) struct Reloader {
    args: RunArgs,
    running: Value,
    log: LogHandle,
}

impl Reloader {
    pub(crate) fn new(args: RunArgs, settings: &Settings, log: LogHandle) -> Self {
        Self {
            args,
            running: settings.redacted_json(),
            log,
        }
    }

    /// Reads and checks the configuration again; `None` when it is
    /// invalid (the reason is already on stderr).
    pub(crate) fn reload(&mut self) -> Option<Reloaded> {
        let new = crate::config::load_checked(
            self.args.config.as_deref(),
            std::env::vars(),
            self.args.overrides(),
        )
        .ok()?;
        Some(self.apply(&new))
    }

    /// Applies what can change live from `new`.
    pub(crate) fn apply(&mut self, new: &Settings) -> Reloaded {
        let next = new.redacted_json();
        let (Value::Object(old), Value::Object(next)) = (&mut self.running, next) else {
            return Reloaded::default();
        };
        let mut done = Reloaded::default();
        let mut keys: Vec<&String> = next.keys().chain(old.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut applied = Vec::new();
        for key in keys {
            if old.get(key) == next.get(key) {
                continue;
            }
            if key == "log_level" && self.log.set_level(new.daemon.log_level) {
                applied.push(key.clone());
            } else {
                done.need_restart.push(key.clone());
            }
        }
        for key in &applied {
            if let Some(v) = next.get(key) {
                old.insert(key.clone(), v.clone());
            }
        }
        done.applied = applied;
        done
    }
}

/// Handles SIGHUP until the runtime ends. Installed at start, so a
/// SIGHUP never ends the daemon.
pub(crate) fn spawn(mut reloader: Reloader) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot handle SIGHUP; configuration reload is unavailable");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            notify::reloading();
            tracing::info!("SIGHUP: reloading the configuration");
            match reloader.reload() {
                None => tracing::error!(
                    "reload refused: the configuration is invalid; the running configuration is kept"
                ),
                Some(r) => {
                    if !r.need_restart.is_empty() {
                        tracing::warn!(
                            "reload: {} changed and take effect at the next restart",
                            r.need_restart.join(", ")
                        );
                    }
                    tracing::info!(
                        "configuration reloaded: {} applied",
                        if r.applied.is_empty() {
                            "nothing to apply".to_string()
                        } else {
                            r.applied.join(", ")
                        }
                    );
                }
            }
            notify::ready("reloaded");
        }
    });
}
