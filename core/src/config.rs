//! Configuration, with the Datadog Agent's `datadog.yaml` key names.
//!
//! Core never reads YAML or the environment: the shells deserialize these
//! structs from whatever they have (YAML, JSON, `DD_*` variables). Values
//! are read as leniently as the Agent's config library reads them
//! (`"true"`, `"8125"`, a JSON string for a list), and unknown keys are
//! ignored because a real `datadog.yaml` holds the whole Agent's settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};
use serde_json::Value;

/// Metric-name prefixes that `statsd_metric_namespace` never applies to
/// (the Agent's `StandardStatsdPrefixes`).
pub const DEFAULT_NAMESPACE_BLOCKLIST: &[&str] = &[
    "datadog.agent",
    "datadog.dogstatsd",
    "datadog.process",
    "datadog.trace_agent",
    "datadog.tracer",
    "activemq",
    "activemq_58",
    "airflow",
    "cassandra",
    "confluent",
    "hazelcast",
    "hive",
    "ignite",
    "jboss",
    "jvm",
    "kafka",
    "presto",
    "sidekiq",
    "solr",
    "tomcat",
    "runtime",
];

/// Everything core needs to know. Field names are the Agent's keys; each
/// field's default is the Agent's.
///
/// Read by hand from a [`Value`] ([`Config::from_value`]; `Deserialize`
/// goes through it too) rather than with `#[derive(Deserialize)]`: the
/// derived visitors were most of the wasm module's configuration code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Host for metrics without a `host:` tag. Default empty; the native
    /// shell fills in the machine's hostname.
    pub hostname: String,
    /// Read `|T` and ship timestamped metrics unaggregated. Default true.
    pub dogstatsd_no_aggregation_pipeline: bool,
    /// Read the client origin fields `c:`, `e:`, `card:`. Default false.
    pub dogstatsd_origin_detection_client: bool,
    /// Prefix for every metric name (a `.` is appended when missing).
    pub statsd_metric_namespace: String,
    /// Names starting with one of these never get the namespace (also
    /// read as `statsd_metric_namespace_blocklist`).
    pub statsd_metric_namespace_blacklist: Vec<String>,
    /// Metric names dropped after enrichment (the filter list; newer
    /// Agents call it `metric_filterlist`). Default none.
    pub statsd_metric_blocklist: Vec<String>,
    /// Match the filter list as name prefixes instead of exact names
    /// (also read as `metric_filterlist_match_prefix`).
    pub statsd_metric_blocklist_match_prefix: bool,
    /// Tags added to every metric, event and service check.
    pub dogstatsd_tags: Vec<String>,
    /// Transports whose messages must end with `\n` (`udp`, `uds`,
    /// `named_pipe`). Default none.
    pub dogstatsd_eol_required: Vec<String>,
    /// Mapper profiles (§8 of the spec), also as a JSON string. Default
    /// none.
    pub dogstatsd_mapper_profiles: Vec<MapperProfileConfig>,
    /// Mapper LRU size. Default 1000; must be positive.
    pub dogstatsd_mapper_cache_size: i64,
    /// Histogram aggregates. Default `max, median, avg, count`.
    pub histogram_aggregates: Vec<String>,
    /// Histogram percentiles as strings in [0, 1]. Default `0.95`.
    pub histogram_percentiles: Vec<String>,
    /// Also send every histogram/timing sample as a distribution.
    pub histogram_copy_to_distribution: bool,
    /// Name prefix of those copies.
    pub histogram_copy_to_distribution_prefix: String,
    /// Counter zero-fill duration in seconds. Default 300.
    pub dogstatsd_expiry_seconds: i64,
    /// Routes of recent name/tag strings each worker remembers, so a
    /// repeated message skips mapping, enrichment and tag hashing (this
    /// project's key; ~250 B each for 130-byte messages, twice that under
    /// a context limit). Default 16384; 0 turns it off.
    pub dogstatsd_route_cache_size: i64,
    /// Idle context eviction in seconds. Default 20.
    pub dogstatsd_context_expiry_seconds: i64,
    /// Most live contexts across all pipelines; a sample of a new context
    /// beyond it is dropped and counted, known contexts keep aggregating
    /// (a bound on memory under a cardinality explosion; this project's
    /// key). Default 0: no limit, as the Agent.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_context_limit: i64,
    /// Read buffer, packet size and maximum stream frame. Default 8192.
    pub dogstatsd_buffer_size: i64,
    /// A metric message with more tags than this (its own `#` tags,
    /// before enrichment adds any) is dropped and counted. The Agent's
    /// key and default: 0 = no limit (a message is already bounded by
    /// `dogstatsd_buffer_size`: at most 4096 tags in 8192 bytes).
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_max_metrics_tags: i64,
    /// A metric message with a tag longer than this many bytes is
    /// dropped and counted. This project's key. Default 4096 (the intake
    /// keeps 200 characters of a tag; longer ones are broken clients or
    /// hostile input); 0 = no limit.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_max_tag_length: i64,
    /// A metric message whose name (as received) is longer than this many
    /// bytes is dropped and counted. This project's key. Default 1024
    /// (the intake accepts 200 characters); 0 = no limit.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_max_name_length: i64,
    /// The final flush at stop takes open buckets too (the Agent's
    /// meaning). Default true here, unlike the Agent's false: a stop then
    /// loses nothing that was received.
    pub dogstatsd_flush_incomplete_buckets: bool,
    /// Forced worker count; 0 = derived from the CPU count.
    pub dogstatsd_workers_count: i64,
    /// Time-sampler pipelines. Default 1.
    pub dogstatsd_pipeline_count: i64,
    /// Derive workers and pipelines from the CPU count. Default false.
    pub dogstatsd_pipeline_autoadjust: bool,
    /// `max_throughput` (default) or `per_origin`.
    pub dogstatsd_pipeline_autoadjust_strategy: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hostname: String::new(),
            dogstatsd_no_aggregation_pipeline: true,
            dogstatsd_origin_detection_client: false,
            statsd_metric_namespace: String::new(),
            statsd_metric_namespace_blacklist: DEFAULT_NAMESPACE_BLOCKLIST
                .iter()
                .map(|s| s.to_string())
                .collect(),
            statsd_metric_blocklist: Vec::new(),
            statsd_metric_blocklist_match_prefix: false,
            dogstatsd_tags: Vec::new(),
            dogstatsd_eol_required: Vec::new(),
            dogstatsd_mapper_profiles: Vec::new(),
            dogstatsd_mapper_cache_size: 1000,
            histogram_aggregates: ["max", "median", "avg", "count"].map(String::from).to_vec(),
            histogram_percentiles: vec!["0.95".to_string()],
            histogram_copy_to_distribution: false,
            histogram_copy_to_distribution_prefix: String::new(),
            dogstatsd_expiry_seconds: 300,
            dogstatsd_route_cache_size: 16384,
            dogstatsd_context_expiry_seconds: 20,
            dogstatsd_context_limit: 0,
            dogstatsd_buffer_size: 8192,
            dogstatsd_max_metrics_tags: 0,
            dogstatsd_max_tag_length: 4096,
            dogstatsd_max_name_length: 1024,
            dogstatsd_flush_incomplete_buckets: true,
            dogstatsd_workers_count: 0,
            dogstatsd_pipeline_count: 1,
            dogstatsd_pipeline_autoadjust: false,
            dogstatsd_pipeline_autoadjust_strategy: "max_throughput".to_string(),
        }
    }
}

/// Why a configuration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigReadError {
    /// The text is not JSON (serde_json's message, with the position).
    #[error("{0}")]
    Syntax(String),
    /// The top level is not a map of settings.
    #[error("expected a map of settings, got {0}")]
    NotAMap(&'static str),
    /// A key has a value the Agent would not accept.
    #[error("{key}: {message}")]
    Value {
        /// The key as written.
        key: String,
        /// What is wrong with its value.
        message: String,
    },
}

/// Sets `field` from `v` with `read` unless the key was already seen
/// under another name (`seen` has one bit per field).
fn set_once<T>(
    seen: &mut u32,
    bit: u32,
    name: &str,
    field: &mut T,
    v: &Value,
    read: fn(&Value) -> Result<T, String>,
) -> Result<(), String> {
    if *seen & (1 << bit) != 0 {
        return Err(duplicate(name));
    }
    *seen |= 1 << bit;
    *field = read(v)?;
    Ok(())
}

/// `set_once`'s error, out of line: not formatted again in every
/// instantiation (wasm size).
#[cold]
#[inline(never)]
fn duplicate(name: &str) -> String {
    format!("duplicate field `{name}`")
}

/// Parses JSON text into a [`Value`] as `serde_json::from_str` does, with
/// its error messages, by way of core's small reader (`json.rs`: a
/// fraction of serde_json's parser in the wasm module).
pub fn parse_json(text: &str) -> Result<Value, String> {
    crate::json::parse(text)
}

impl Config {
    /// Reads a configuration from JSON (the wasm shell's and the tests'
    /// format; YAML is the native shell's business).
    pub fn from_json(json: &str) -> Result<Self, ConfigReadError> {
        let v = parse_json(json).map_err(ConfigReadError::Syntax)?;
        Self::from_value(&v)
    }

    /// Reads a configuration from a map of settings. Unknown keys are
    /// ignored; missing keys keep their defaults.
    pub fn from_value(v: &Value) -> Result<Self, ConfigReadError> {
        let mut c = Self::default();
        let map = match v {
            Value::Object(m) => m,
            other => return Err(ConfigReadError::NotAMap(de::describe(other))),
        };
        let mut seen = 0u32;
        for (key, v) in map {
            use de::{read_bool as b, read_int as i, read_string as s, read_string_list as l};
            let seen = &mut seen;
            let r = match key.as_str() {
                "hostname" => set_once(seen, 0, key, &mut c.hostname, v, s),
                "dogstatsd_no_aggregation_pipeline" => {
                    set_once(seen, 1, key, &mut c.dogstatsd_no_aggregation_pipeline, v, b)
                }
                "dogstatsd_origin_detection_client" => {
                    set_once(seen, 2, key, &mut c.dogstatsd_origin_detection_client, v, b)
                }
                "statsd_metric_namespace" => {
                    set_once(seen, 3, key, &mut c.statsd_metric_namespace, v, s)
                }
                "statsd_metric_namespace_blacklist" | "statsd_metric_namespace_blocklist" => {
                    let f = &mut c.statsd_metric_namespace_blacklist;
                    set_once(seen, 4, "statsd_metric_namespace_blacklist", f, v, l)
                }
                "statsd_metric_blocklist" | "metric_filterlist" => {
                    let f = &mut c.statsd_metric_blocklist;
                    set_once(seen, 5, "statsd_metric_blocklist", f, v, l)
                }
                "statsd_metric_blocklist_match_prefix" | "metric_filterlist_match_prefix" => {
                    let f = &mut c.statsd_metric_blocklist_match_prefix;
                    set_once(seen, 6, "statsd_metric_blocklist_match_prefix", f, v, b)
                }
                "dogstatsd_tags" => set_once(seen, 7, key, &mut c.dogstatsd_tags, v, l),
                "dogstatsd_eol_required" => {
                    set_once(seen, 8, key, &mut c.dogstatsd_eol_required, v, l)
                }
                "dogstatsd_mapper_profiles" => {
                    let f = &mut c.dogstatsd_mapper_profiles;
                    set_once(seen, 9, key, f, v, MapperProfileConfig::list_from_value)
                }
                "dogstatsd_mapper_cache_size" => {
                    set_once(seen, 10, key, &mut c.dogstatsd_mapper_cache_size, v, i)
                }
                "histogram_aggregates" => {
                    set_once(seen, 11, key, &mut c.histogram_aggregates, v, l)
                }
                "histogram_percentiles" => {
                    set_once(seen, 12, key, &mut c.histogram_percentiles, v, l)
                }
                "histogram_copy_to_distribution" => {
                    set_once(seen, 13, key, &mut c.histogram_copy_to_distribution, v, b)
                }
                "histogram_copy_to_distribution_prefix" => {
                    let f = &mut c.histogram_copy_to_distribution_prefix;
                    set_once(seen, 14, key, f, v, s)
                }
                "dogstatsd_expiry_seconds" => {
                    set_once(seen, 15, key, &mut c.dogstatsd_expiry_seconds, v, i)
                }
                "dogstatsd_route_cache_size" => {
                    set_once(seen, 16, key, &mut c.dogstatsd_route_cache_size, v, i)
                }
                "dogstatsd_context_expiry_seconds" => {
                    set_once(seen, 17, key, &mut c.dogstatsd_context_expiry_seconds, v, i)
                }
                "dogstatsd_buffer_size" => {
                    set_once(seen, 18, key, &mut c.dogstatsd_buffer_size, v, i)
                }
                "dogstatsd_flush_incomplete_buckets" => set_once(
                    seen,
                    19,
                    key,
                    &mut c.dogstatsd_flush_incomplete_buckets,
                    v,
                    b,
                ),
                "dogstatsd_workers_count" => {
                    set_once(seen, 20, key, &mut c.dogstatsd_workers_count, v, i)
                }
                "dogstatsd_pipeline_count" => {
                    set_once(seen, 21, key, &mut c.dogstatsd_pipeline_count, v, i)
                }
                "dogstatsd_pipeline_autoadjust" => {
                    set_once(seen, 22, key, &mut c.dogstatsd_pipeline_autoadjust, v, b)
                }
                "dogstatsd_pipeline_autoadjust_strategy" => {
                    let f = &mut c.dogstatsd_pipeline_autoadjust_strategy;
                    set_once(seen, 23, key, f, v, s)
                }
                "dogstatsd_context_limit" => {
                    set_once(seen, 24, key, &mut c.dogstatsd_context_limit, v, i)
                }
                "dogstatsd_max_metrics_tags" => {
                    set_once(seen, 25, key, &mut c.dogstatsd_max_metrics_tags, v, i)
                }
                "dogstatsd_max_tag_length" => {
                    set_once(seen, 26, key, &mut c.dogstatsd_max_tag_length, v, i)
                }
                "dogstatsd_max_name_length" => {
                    set_once(seen, 27, key, &mut c.dogstatsd_max_name_length, v, i)
                }
                _ => Ok(()),
            };
            r.map_err(|message| ConfigReadError::Value {
                key: key.clone(),
                message,
            })?;
        }
        Ok(c)
    }
}

/// Through [`Config::from_value`]; the error is the value's problem
/// alone (callers that want the key read key by key, as the native shell
/// does).
impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_value(&Value::deserialize(d)?).map_err(|e| match e {
            ConfigReadError::Value { message, .. } => D::Error::custom(message),
            e => D::Error::custom(e),
        })
    }
}

/// One `dogstatsd_mapper_profiles` entry. Missing fields read as empty so
/// validation can name what is missing, as the Agent does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct MapperProfileConfig {
    /// Profile name (required).
    pub name: String,
    /// Names this profile applies to (`*` = all; required).
    pub prefix: String,
    /// Mappings tried in order.
    pub mappings: Vec<MappingConfig>,
}

impl MapperProfileConfig {
    /// Reads one profile (a map; unknown keys are ignored).
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let mut p = Self::default();
        for (key, v) in de::object(v, "a mapper profile")? {
            match key.as_str() {
                "name" => p.name = de::strict_string(v)?,
                "prefix" => p.prefix = de::strict_string(v)?,
                "mappings" => {
                    p.mappings = de::array(v, "a list of mappings")?
                        .iter()
                        .map(MappingConfig::from_value)
                        .collect::<Result<_, _>>()?
                }
                _ => {}
            }
        }
        Ok(p)
    }

    /// Reads `dogstatsd_mapper_profiles`: a list of profiles, also given
    /// as a JSON string (how the Agent reads
    /// `DD_DOGSTATSD_MAPPER_PROFILES`); `null` and a blank string are no
    /// profiles.
    pub fn list_from_value(v: &Value) -> Result<Vec<Self>, String> {
        let parsed;
        let v = match v {
            Value::Null => return Ok(Vec::new()),
            Value::String(s) if s.trim().is_empty() => return Ok(Vec::new()),
            Value::String(s) => {
                parsed = parse_json(s)?;
                &parsed
            }
            v => v,
        };
        de::array(v, "a list of mapper profiles")?
            .iter()
            .map(Self::from_value)
            .collect()
    }
}

impl<'de> Deserialize<'de> for MapperProfileConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_value(&Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// One mapping of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct MappingConfig {
    /// The pattern (required).
    #[serde(rename = "match")]
    pub pattern: String,
    /// `wildcard` (default when empty) or `regex`.
    pub match_type: String,
    /// Name template (required).
    pub name: String,
    /// Tag key to value template.
    pub tags: BTreeMap<String, String>,
}

impl MappingConfig {
    /// A mapping from its parts (`match_type` empty means wildcard).
    pub fn new(pattern: &str, match_type: &str, name: &str, tags: &[(&str, &str)]) -> Self {
        let mut m = Self {
            pattern: pattern.to_owned(),
            match_type: match_type.to_owned(),
            name: name.to_owned(),
            tags: BTreeMap::new(),
        };
        for &(k, v) in tags {
            m.tags.insert(k.to_owned(), v.to_owned());
        }
        m
    }

    /// Reads one mapping (a map; unknown keys are ignored).
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let mut m = Self::default();
        for (key, v) in de::object(v, "a mapping")? {
            match key.as_str() {
                "match" => m.pattern = de::strict_string(v)?,
                "match_type" => m.match_type = de::strict_string(v)?,
                "name" => m.name = de::strict_string(v)?,
                "tags" => {
                    m.tags.clear();
                    for (k, t) in de::object(v, "a map of tags")? {
                        m.tags.insert(k.clone(), de::strict_string(t)?);
                    }
                }
                _ => {}
            }
        }
        Ok(m)
    }
}

impl<'de> Deserialize<'de> for MappingConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_value(&Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// Lenient readers matching how the Agent's config library casts values.
/// The `read_*` functions take a [`Value`]; the others are the same
/// readers in the shape `#[serde(deserialize_with)]` wants.
pub mod de {
    use super::*;

    /// What kind of value `v` is, for messages.
    pub(crate) fn describe(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "a map",
        }
    }

    /// `expected {what}, got {describe(v)}`, out of line (one formatting
    /// call for all the readers; wasm size).
    #[cold]
    #[inline(never)]
    fn expected(what: &str, v: &Value) -> String {
        format!("expected {what}, got {}", describe(v))
    }

    pub(crate) fn object<'v>(
        v: &'v Value,
        what: &str,
    ) -> Result<&'v serde_json::Map<String, Value>, String> {
        match v {
            Value::Object(m) => Ok(m),
            v => Err(expected(what, v)),
        }
    }

    pub(crate) fn array<'v>(v: &'v Value, what: &str) -> Result<&'v [Value], String> {
        match v {
            Value::Array(a) => Ok(a),
            v => Err(expected(what, v)),
        }
    }

    /// A string and nothing else (mapper fields).
    pub(crate) fn strict_string(v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            v => Err(expected("a string", v)),
        }
    }

    /// A boolean, also from `"true"`/`"false"`/`"1"`/`"0"` and numbers.
    pub fn read_bool(v: &Value) -> Result<bool, String> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Number(n) => Ok(n.as_f64() != Some(0.0)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "t" | "yes" | "y" | "on" => Ok(true),
                "false" | "0" | "f" | "no" | "n" | "off" | "" => Ok(false),
                // Quoted by hand, not `{s:?}`: its escaping tables cost the
                // wasm module a kilobyte.
                _ => Err(format!("expected a boolean, got \"{s}\"")),
            },
            v => Err(expected("a boolean", v)),
        }
    }

    /// An integer, also from a numeric string.
    pub fn read_int(v: &Value) -> Result<i64, String> {
        match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9e18)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| format!("expected an integer, got {n}")),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("expected an integer, got \"{s}\"")),
            v => Err(expected("an integer", v)),
        }
    }

    /// A string, also from a number or boolean; null reads as empty.
    pub fn read_string(v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Null => Ok(String::new()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            v => Err(expected("a string", v)),
        }
    }

    /// A list of strings; a single string is a JSON list when it starts
    /// with `[`, else space-separated (as `DD_DOGSTATSD_TAGS` is read).
    pub fn read_string_list(v: &Value) -> Result<Vec<String>, String> {
        let item = |v: &Value| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            v => Err(format!(
                "expected a list of strings, got {} in it",
                describe(v)
            )),
        };
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items.iter().map(item).collect(),
            Value::String(s) if s.trim_start().starts_with('[') => {
                let items = parse_json(s)?;
                array(&items, "a list of strings")?
                    .iter()
                    .map(item)
                    .collect()
            }
            Value::String(s) => Ok(s.split_whitespace().map(String::from).collect()),
            v => Err(expected("a list of strings", v)),
        }
    }

    fn with<'de, D: Deserializer<'de>, T>(
        d: D,
        read: fn(&Value) -> Result<T, String>,
    ) -> Result<T, D::Error> {
        read(&Value::deserialize(d)?).map_err(D::Error::custom)
    }

    /// [`read_bool`] for `#[serde(deserialize_with)]`.
    pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        with(d, read_bool)
    }

    /// [`read_int`] for `#[serde(deserialize_with)]`.
    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        with(d, read_int)
    }

    /// [`read_string`] for `#[serde(deserialize_with)]`.
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        with(d, read_string)
    }

    /// [`read_string_list`] for `#[serde(deserialize_with)]`.
    pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        with(d, read_string_list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field listed (no `..Default`, so a new field will not compile
    /// until it is added here) and different from its default: a key the
    /// hand-written reader forgets comes back as the default and fails.
    #[test]
    fn every_key_is_read_back() {
        let c = Config {
            hostname: "h".into(),
            dogstatsd_no_aggregation_pipeline: false,
            dogstatsd_origin_detection_client: true,
            statsd_metric_namespace: "ns".into(),
            statsd_metric_namespace_blacklist: vec!["a".into()],
            statsd_metric_blocklist: vec!["b".into()],
            statsd_metric_blocklist_match_prefix: true,
            dogstatsd_tags: vec!["t:1".into()],
            dogstatsd_eol_required: vec!["udp".into()],
            dogstatsd_mapper_profiles: vec![MapperProfileConfig {
                name: "p".into(),
                prefix: "p.".into(),
                mappings: vec![MappingConfig::new("p.*", "", "x", &[("k", "$1")])],
            }],
            dogstatsd_mapper_cache_size: 7,
            histogram_aggregates: vec!["max".into()],
            histogram_percentiles: vec!["0.5".into()],
            histogram_copy_to_distribution: true,
            histogram_copy_to_distribution_prefix: "d.".into(),
            dogstatsd_expiry_seconds: 11,
            dogstatsd_route_cache_size: 12,
            dogstatsd_context_expiry_seconds: 13,
            dogstatsd_context_limit: 14,
            dogstatsd_buffer_size: 15,
            dogstatsd_max_metrics_tags: 16,
            dogstatsd_max_tag_length: 17,
            dogstatsd_max_name_length: 18,
            dogstatsd_flush_incomplete_buckets: false,
            dogstatsd_workers_count: 19,
            dogstatsd_pipeline_count: 20,
            dogstatsd_pipeline_autoadjust: true,
            dogstatsd_pipeline_autoadjust_strategy: "per_origin".into(),
        };
        let json = serde_json::to_string(&c).unwrap();
        let back = Config::from_json(&json).unwrap();
        assert_eq!(back, c);
        let d = Config::default();
        let differs = serde_json::to_value(&c).unwrap();
        let defaults = serde_json::to_value(&d).unwrap();
        for (k, v) in differs.as_object().unwrap() {
            assert_ne!(
                Some(v),
                defaults.get(k),
                "{k} equals its default in this test"
            );
        }
    }

    #[test]
    fn defaults_are_the_agents() {
        let c = Config::from_json("{}").unwrap();
        assert_eq!(c, Config::default());
        assert!(c.dogstatsd_no_aggregation_pipeline);
        assert_eq!(c.dogstatsd_mapper_cache_size, 1000);
        assert_eq!(c.histogram_aggregates, ["max", "median", "avg", "count"]);
    }

    #[test]
    fn lenient_values_and_unknown_keys() {
        let c = Config::from_json(
            r#"{"dogstatsd_no_aggregation_pipeline":"false","dogstatsd_mapper_cache_size":"12",
                "dogstatsd_tags":"a:b c:d","histogram_percentiles":[0.5,"0.99"],"api_key":"x",
                "dogstatsd_mapper_profiles":"[{\"name\":\"p\",\"prefix\":\"a.\",\"mappings\":[{\"match\":\"a.*\",\"name\":\"b\"}]}]"}"#,
        )
        .unwrap();
        assert!(!c.dogstatsd_no_aggregation_pipeline);
        assert_eq!(c.dogstatsd_mapper_cache_size, 12);
        assert_eq!(c.dogstatsd_tags, ["a:b", "c:d"]);
        assert_eq!(c.histogram_percentiles, ["0.5", "0.99"]);
        assert_eq!(c.dogstatsd_mapper_profiles[0].mappings[0].pattern, "a.*");
    }

    #[test]
    fn aliases_profiles_and_what_is_rejected() {
        let c = Config::from_json(
            r#"{"metric_filterlist":["a"],"statsd_metric_namespace_blocklist":"x y",
                "dogstatsd_mapper_profiles":[{"name":"p","prefix":"a.","mappings":[
                    {"match":"a.*","match_type":"wildcard","name":"b","tags":{"k":"$1"}}]}]}"#,
        )
        .unwrap();
        assert_eq!(c.statsd_metric_blocklist, ["a"]);
        assert_eq!(c.statsd_metric_namespace_blacklist, ["x", "y"]);
        let m = &c.dogstatsd_mapper_profiles[0].mappings[0];
        assert_eq!(
            *m,
            MappingConfig::new("a.*", "wildcard", "b", &[("k", "$1")])
        );
        // The same as the derived reader did: a key given under two
        // names, a mapper field of the wrong type, a non-map.
        for bad in [
            r#"{"metric_filterlist":[],"statsd_metric_blocklist":[]}"#,
            r#"{"dogstatsd_mapper_profiles":[{"name":5}]}"#,
            r#"{"dogstatsd_mapper_profiles":{"name":"p"}}"#,
            r#"{"dogstatsd_mapper_profiles":[{"mappings":[{"tags":{"k":1}}]}]}"#,
            "[]",
            "null",
        ] {
            assert!(Config::from_json(bad).is_err(), "{bad}");
        }
        let e = Config::from_json(r#"{"dogstatsd_tags":{}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dogstatsd_tags: expected a list of strings, got a map"
        );
        // Deserialize (the native shell's path) reads the same way.
        let v: Value = serde_json::from_str(r#"{"metric_filterlist":"a b"}"#).unwrap();
        let d: Config = serde_json::from_value(v).unwrap();
        assert_eq!(d.statsd_metric_blocklist, ["a", "b"]);
    }

    #[test]
    fn bad_values_name_the_problem() {
        let e = Config::from_json(r#"{"dogstatsd_no_aggregation_pipeline":"maybe"}"#).unwrap_err();
        assert!(e.to_string().contains("expected a boolean"), "{e}");
        assert!(Config::from_json(r#"{"dogstatsd_mapper_cache_size":"x"}"#).is_err());
    }
}
