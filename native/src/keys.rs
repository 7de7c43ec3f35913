//! Which keys this server reads, which the Datadog Agent knows, and a
//! warning for each key read by nobody: each top-level key of the
//! configuration file that this server does not support gets one line, saying
//! whether the Datadog Agent knows it (a setting this server does not
//! implement) or nobody does (a typo, most likely, with the closest
//! supported key suggested). `DD_*` variables naming an Agent setting this
//! server does not support are warned about too; other `DD_*` variables
//! are left alone, as tracers and libraries read many of their own.

use std::collections::BTreeSet;

/// The Agent's top-level keys (see the file's header for its source).
const AGENT_KEYS: &str = include_str!("agent_keys.txt");

/// Keys read by the forwarder beyond `forwarder::config::SETTINGS_KEYS`
/// (the nested `use_v2_api: {series: ...}` spelling).
const FORWARDER_KEYS: &[&str] = &["use_v2_api"];

/// Every top-level key the Datadog Agent knows.
pub fn agent_keys() -> BTreeSet<&'static str> {
    AGENT_KEYS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Every key the settings types read, for `DD_<KEY>` overrides. The
/// Agent binds environment variables key by key, so only known keys are
/// read.
pub fn settings_keys() -> Vec<String> {
    let mut keys = crate::settings_map::keys_of::<dogstatsd_core::config::Config>();
    keys.extend(crate::settings::DaemonSettings::keys());
    keys.extend(crate::capture::CaptureSettings::keys());
    keys.extend(crate::logging::LogSettings::keys());
    keys.extend(crate::secrets::BackendSettings::keys());
    keys.extend(crate::settings::HostTags::keys());
    keys.extend(
        crate::forwarder::config::SETTINGS_KEYS
            .iter()
            .map(|k| k.to_string()),
    );
    keys
}

/// Every top-level key this server reads.
pub fn supported_keys() -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = settings_keys().into_iter().collect();
    keys.extend(FORWARDER_KEYS.iter().map(|k| k.to_string()));
    keys
}

/// The Agent's keys this server does not read, sorted.
pub fn unsupported_agent_keys() -> Vec<&'static str> {
    let supported = supported_keys();
    agent_keys()
        .into_iter()
        .filter(|k| !supported.contains(*k))
        .collect()
}

/// One warning per unsupported key among `file_keys` (top-level keys of
/// the file, each with where it is: `path` or `path:line`) and
/// `env_names` (the process's variable names), in that order.
pub fn warnings<'a>(
    file_keys: impl IntoIterator<Item = (&'a String, &'a String)>,
    env_names: impl IntoIterator<Item = &'a String>,
) -> Vec<String> {
    let supported = supported_keys();
    let agent = agent_keys();
    let mut out = Vec::new();
    for (key, origin) in file_keys {
        let lower = key.to_ascii_lowercase();
        if supported.contains(&lower) {
            continue;
        }
        if agent.contains(lower.as_str()) {
            out.push(format!(
                "warning: {origin}: `{key}` is a Datadog Agent setting this server does not support; ignored"
            ));
        } else {
            let hint = closest(&lower, &supported)
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            out.push(format!(
                "warning: {origin}: unknown setting `{key}`, known to neither this server nor the Datadog Agent; ignored{hint}"
            ));
        }
    }
    for name in env_names {
        let Some(key) = name.strip_prefix("DD_").map(str::to_ascii_lowercase) else {
            continue;
        };
        if !supported.contains(&key) && agent.contains(key.as_str()) {
            out.push(format!(
                "warning: {name}: `{key}` is a Datadog Agent setting this server does not support; ignored"
            ));
        }
    }
    out
}

/// The supported key closest to `key`, when close enough to be a typo.
fn closest<'s>(key: &str, supported: &'s BTreeSet<String>) -> Option<&'s str> {
    supported
        .iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_key_is_known_and_the_split_is_clean() {
        let agent = agent_keys();
        assert!(agent.len() > 400, "{}", agent.len());
        for k in ["api_key", "dogstatsd_port", "apm_config", "logs_config"] {
            assert!(agent.contains(k), "{k}");
        }
        let unsupported = unsupported_agent_keys();
        assert!(unsupported.contains(&"apm_config"));
        assert!(!unsupported.contains(&"dogstatsd_port"));
        assert!(!unsupported.contains(&"proxy"), "the forwarder reads it");
    }

    #[test]
    fn warnings_name_the_key_and_say_who_knows_it() {
        let file = [
            "apm_config",
            "dogstatsd_prot",
            "hostname",
            "Totally_Unknown",
        ]
        .map(|k| (k.to_string(), "d.yaml:3".to_string()));
        let env = ["DD_LOGS_ENABLED", "DD_SERVICE", "DD_HOSTNAME", "PATH"].map(String::from);
        let w = warnings(file.iter().map(|(k, o)| (k, o)), &env);
        assert_eq!(w.len(), 4, "{w:#?}");
        assert!(w[0].contains("`apm_config`") && w[0].contains("Datadog Agent setting"));
        assert!(w[0].contains("d.yaml:3:"), "{w:?}");
        assert!(
            w[1].contains("`dogstatsd_prot`") && w[1].contains("did you mean `dogstatsd_port`")
        );
        assert!(w[2].contains("`Totally_Unknown`") && w[2].contains("neither"));
        assert!(w[3].contains("DD_LOGS_ENABLED") && w[3].contains("`logs_enabled`"));
        assert!(w.iter().all(|l| l.starts_with("warning: ")));
    }
}
