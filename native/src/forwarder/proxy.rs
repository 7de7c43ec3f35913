//! Which proxy the forwarder goes through, as the Agent decides it:
//!
//! 1. `proxy: {http, https, no_proxy}` from the configuration file, each
//!    overridden by `DD_PROXY_HTTP`, `DD_PROXY_HTTPS`, `DD_PROXY_NO_PROXY`
//!    (space-separated);
//! 2. only when none of those is set: the standard `HTTP_PROXY`,
//!    `HTTPS_PROXY`, `NO_PROXY` (upper case first, then lower case;
//!    `NO_PROXY` comma-separated), never for loopback addresses.
//!
//! `http` applies to `http://` intakes (a plain forward proxy), `https` to
//! `https://` intakes (a `CONNECT` tunnel). Credentials may sit in the
//! proxy URL (`http://user:pass@proxy:3128`); they are sent as
//! `Proxy-Authorization` and never shown: [`ProxyConfig`]'s `Debug` and
//! [`redact_url`] hide them. `no_proxy` entries are host names (matching
//! subdomains too), IP addresses or CIDR ranges, or `*`.

use std::fmt;

use dogstatsd_core::config::de;
use serde_json::{Map, Value};

use super::config::ConfigError;

/// Where the proxy settings came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxySource {
    /// No proxy.
    #[default]
    None,
    /// `proxy.*` / `DD_PROXY_*`.
    Config,
    /// `HTTP(S)_PROXY` / `NO_PROXY`.
    Environment,
}

/// The proxy settings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Proxy for `http://` intakes.
    pub http: Option<String>,
    /// Proxy for `https://` intakes.
    pub https: Option<String>,
    /// Hosts reached directly.
    pub no_proxy: Vec<String>,
    /// Where these came from.
    pub source: ProxySource,
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("http", &self.http.as_deref().map(redact_url))
            .field("https", &self.https.as_deref().map(redact_url))
            .field("no_proxy", &self.no_proxy)
            .field("source", &self.source)
            .finish()
    }
}

/// A URL with any `user:password@` replaced by `<redacted>@`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let shown = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}{tail}"),
        None => rest.to_string(),
    };
    match scheme {
        Some(s) => format!("{s}://{shown}"),
        None => shown,
    }
}

fn text(v: Option<&Value>, key: &str) -> Result<Option<String>, ConfigError> {
    let Some(v) = v else { return Ok(None) };
    let s = de::read_string(v).map_err(|e| ConfigError::Value(format!("{key}: {e}")))?;
    let s = s.trim().to_string();
    Ok((!s.is_empty()).then_some(s))
}

fn list(v: Option<&Value>, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(v) = v else { return Ok(None) };
    let items = de::read_string_list(v).map_err(|e| ConfigError::Value(format!("{key}: {e}")))?;
    let items: Vec<String> = items
        .iter()
        .flat_map(|s| s.split([',', ' ']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    Ok((!items.is_empty()).then_some(items))
}

fn check(url: Option<String>, key: &str) -> Result<Option<String>, ConfigError> {
    let Some(url) = url else { return Ok(None) };
    let url = if url.contains("://") {
        url
    } else {
        format!("http://{url}")
    };
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https")) {
        return Err(ConfigError::Value(format!(
            "{key}: {} is not an http:// or https:// proxy URL",
            redact_url(&url)
        )));
    }
    if reqwest::Url::parse(&url).is_err() {
        return Err(ConfigError::Value(format!(
            "{key}: {} is not a valid URL",
            redact_url(&url)
        )));
    }
    Ok(Some(url))
}

impl ProxyConfig {
    /// Reads the settings map (`proxy` nested, `proxy_http`, … flat from
    /// `DD_PROXY_*`) and, when it names no proxy, the standard variables
    /// through `env`.
    pub fn from_settings(
        settings: &Map<String, Value>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let nested = match settings.get("proxy") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(_) => {
                return Err(ConfigError::Value(
                    "proxy: expected a map with http, https and no_proxy".to_string(),
                ));
            }
        };
        let pick = |flat: &str, inner: &str| {
            settings
                .get(flat)
                .or_else(|| nested.and_then(|m| m.get(inner)))
        };
        let http = text(pick("proxy_http", "http"), "proxy.http")?;
        let https = text(pick("proxy_https", "https"), "proxy.https")?;
        let no_proxy = list(pick("proxy_no_proxy", "no_proxy"), "proxy.no_proxy")?;
        let (http, https, no_proxy, source) =
            if http.is_some() || https.is_some() || no_proxy.is_some() {
                (http, https, no_proxy, ProxySource::Config)
            } else {
                let var = |upper: &str| {
                    env(upper)
                        .or_else(|| env(&upper.to_ascii_lowercase()))
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                };
                let http = var("HTTP_PROXY");
                let https = var("HTTPS_PROXY");
                let no_proxy = var("NO_PROXY").map(|s| {
                    s.split([',', ' '])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect::<Vec<_>>()
                });
                let source = if http.is_some() || https.is_some() {
                    ProxySource::Environment
                } else {
                    ProxySource::None
                };
                // As Go's environment proxy (which the Agent uses there):
                // loopback is never proxied.
                let no_proxy = (source == ProxySource::Environment).then(|| {
                    let mut list = no_proxy.unwrap_or_default();
                    list.extend(["localhost", "127.0.0.0/8", "::1"].map(String::from));
                    list
                });
                (http, https, no_proxy, source)
            };
        Ok(Self {
            http: check(http, "proxy.http")?,
            https: check(https, "proxy.https")?,
            no_proxy: no_proxy.unwrap_or_default(),
            source,
        })
    }

    /// True when some intake URL goes through a proxy.
    pub fn is_set(&self) -> bool {
        self.http.is_some() || self.https.is_some()
    }

    /// The client's proxy rules.
    pub(crate) fn build(&self) -> Result<Vec<reqwest::Proxy>, ConfigError> {
        let no_proxy = reqwest::NoProxy::from_string(&self.no_proxy.join(","));
        let mut out = Vec::new();
        let bad = |key: &str, url: &str, e: reqwest::Error| {
            ConfigError::Value(format!("{key}: {}: {e}", redact_url(url)))
        };
        if let Some(url) = &self.http {
            out.push(
                reqwest::Proxy::http(url)
                    .map_err(|e| bad("proxy.http", url, e))?
                    .no_proxy(no_proxy.clone()),
            );
        }
        if let Some(url) = &self.https {
            out.push(
                reqwest::Proxy::https(url)
                    .map_err(|e| bad("proxy.https", url, e))?
                    .no_proxy(no_proxy.clone()),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str, env: &[(&str, &str)]) -> ProxyConfig {
        let m: Map<String, Value> = serde_json::from_str(json).unwrap();
        ProxyConfig::from_settings(&m, |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    #[test]
    fn the_config_wins_and_dd_proxy_overrides_the_file() {
        let p = read(
            r#"{"proxy":{"http":"http://f:1","https":"http://f:2","no_proxy":["a","b"]},
                "proxy_https":"http://env:3"}"#,
            &[("HTTP_PROXY", "http://std:9")],
        );
        assert_eq!(p.http.as_deref(), Some("http://f:1"));
        assert_eq!(p.https.as_deref(), Some("http://env:3"));
        assert_eq!(p.no_proxy, ["a", "b"]);
        assert_eq!(p.source, ProxySource::Config);
        let p = read(
            r#"{"proxy_no_proxy":"x y"}"#,
            &[("HTTP_PROXY", "http://std:9")],
        );
        assert_eq!(
            p.http, None,
            "any proxy key set: the standard variables are ignored"
        );
        assert_eq!(p.no_proxy, ["x", "y"]);
    }

    #[test]
    fn standard_variables_apply_when_nothing_is_configured() {
        let p = read(
            "{}",
            &[
                ("HTTP_PROXY", "http://u:p@std:9"),
                ("https_proxy", "std:10"),
                ("NO_PROXY", "localhost, 10.0.0.0/8"),
            ],
        );
        assert_eq!(p.http.as_deref(), Some("http://u:p@std:9"));
        assert_eq!(p.https.as_deref(), Some("http://std:10"));
        assert_eq!(
            p.no_proxy,
            ["localhost", "10.0.0.0/8", "localhost", "127.0.0.0/8", "::1"]
        );
        assert_eq!(p.source, ProxySource::Environment);
        assert!(read("{}", &[]) == ProxyConfig::default());
    }

    #[test]
    fn credentials_never_show() {
        let p = read(r#"{"proxy":{"https":"http://alice:s3cret@p:3128/"}}"#, &[]);
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("alice"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>@p:3128/"), "{shown}");
        assert_eq!(redact_url("http://p:1"), "http://p:1");
        assert_eq!(
            redact_url("http://a@b@p:1/x@y"),
            "http://<redacted>@p:1/x@y"
        );
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"proxy":{"http":"socks5://bob:pw@p:1"}}"#).unwrap();
        let e = ProxyConfig::from_settings(&m, |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("proxy.http") && !e.contains("pw"), "{e}");
    }
}
