//! The systemd notification protocol (`Type=notify`): `READY=1` once
//! every listener is bound, `RELOADING=1` around a configuration reload,
//! `STOPPING=1` at a stop, and `WATCHDOG=1` at half the interval the
//! service manager asks for (`WatchdogSec`). Without `NOTIFY_SOCKET`
//! every call does nothing.

use std::time::Duration;

#[cfg(unix)]
use sd_notify::NotifyState;

/// Startup is finished.
pub(crate) fn ready(status: &str) {
    #[cfg(unix)]
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
    #[cfg(not(unix))]
    let _ = status;
}

/// A configuration reload has begun; [`ready`] ends it.
#[cfg(unix)]
pub(crate) fn reloading() {
    {
        // systemd matches the reload to its request by the monotonic time.
        let mut states = vec![NotifyState::Reloading];
        states.extend(NotifyState::monotonic_usec_now().ok());
        send(&states);
    }
}

/// The daemon is stopping.
pub(crate) fn stopping() {
    #[cfg(unix)]
    send(&[NotifyState::Stopping]);
}

/// How often to ping the watchdog, when the service manager asks.
pub(crate) fn watchdog_interval() -> Option<Duration> {
    #[cfg(unix)]
    {
        sd_notify::watchdog_enabled().map(|d| d / 2)
    }
    #[cfg(not(unix))]
    None
}

/// The daemon is alive.
pub(crate) fn watchdog() {
    #[cfg(unix)]
    send(&[NotifyState::Watchdog]);
}

#[cfg(unix)]
fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("sd_notify: {e}");
    }
}
