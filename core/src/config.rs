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
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Host for metrics without a `host:` tag. Default empty; the native
    /// shell fills in the machine's hostname.
    #[serde(deserialize_with = "de::string")]
    pub hostname: String,
    /// Read `|T` and ship timestamped metrics unaggregated. Default true.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_no_aggregation_pipeline: bool,
    /// Read the client origin fields `c:`, `e:`, `card:`. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_origin_detection_client: bool,
    /// Prefix for every metric name (a `.` is appended when missing).
    #[serde(deserialize_with = "de::string")]
    pub statsd_metric_namespace: String,
    /// Names starting with one of these never get the namespace.
    #[serde(
        alias = "statsd_metric_namespace_blocklist",
        deserialize_with = "de::string_list"
    )]
    pub statsd_metric_namespace_blacklist: Vec<String>,
    /// Metric names dropped after enrichment (the filter list; newer
    /// Agents call it `metric_filterlist`). Default none.
    #[serde(alias = "metric_filterlist", deserialize_with = "de::string_list")]
    pub statsd_metric_blocklist: Vec<String>,
    /// Match the filter list as name prefixes instead of exact names.
    #[serde(
        alias = "metric_filterlist_match_prefix",
        deserialize_with = "de::boolean"
    )]
    pub statsd_metric_blocklist_match_prefix: bool,
    /// Tags added to every metric, event and service check.
    #[serde(deserialize_with = "de::string_list")]
    pub dogstatsd_tags: Vec<String>,
    /// Transports whose messages must end with `\n` (`udp`, `uds`,
    /// `named_pipe`). Default none.
    #[serde(deserialize_with = "de::string_list")]
    pub dogstatsd_eol_required: Vec<String>,
    /// Mapper profiles (§8 of the spec). Default none.
    #[serde(deserialize_with = "de::json_or")]
    pub dogstatsd_mapper_profiles: Vec<MapperProfileConfig>,
    /// Mapper LRU size. Default 1000; must be positive.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_mapper_cache_size: i64,
    /// Histogram aggregates. Default `max, median, avg, count`.
    #[serde(deserialize_with = "de::string_list")]
    pub histogram_aggregates: Vec<String>,
    /// Histogram percentiles as strings in [0, 1]. Default `0.95`.
    #[serde(deserialize_with = "de::string_list")]
    pub histogram_percentiles: Vec<String>,
    /// Also send every histogram/timing sample as a distribution.
    #[serde(deserialize_with = "de::boolean")]
    pub histogram_copy_to_distribution: bool,
    /// Name prefix of those copies.
    #[serde(deserialize_with = "de::string")]
    pub histogram_copy_to_distribution_prefix: String,
    /// Counter zero-fill duration in seconds. Default 300.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_expiry_seconds: i64,
    /// Routes of recent name/tag strings each worker remembers, so a
    /// repeated message skips mapping, enrichment and tag hashing (this
    /// project's key; ~0.5 KB each). Default 8192; 0 turns it off.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_route_cache_size: i64,
    /// Idle context eviction in seconds. Default 20.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_context_expiry_seconds: i64,
    /// Most live contexts across all pipelines; a sample of a new context
    /// beyond it is dropped and counted, known contexts keep aggregating
    /// (a bound on memory under a cardinality explosion; this project's
    /// key). Default 0: no limit, as the Agent.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_context_limit: i64,
    /// Read buffer, packet size and maximum stream frame. Default 8192.
    #[serde(deserialize_with = "de::int")]
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
    /// Flush open buckets on stop. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_flush_incomplete_buckets: bool,
    /// Forced worker count; 0 = derived from the CPU count.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_workers_count: i64,
    /// Time-sampler pipelines. Default 1.
    #[serde(deserialize_with = "de::int")]
    pub dogstatsd_pipeline_count: i64,
    /// Derive workers and pipelines from the CPU count. Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_pipeline_autoadjust: bool,
    /// `max_throughput` (default) or `per_origin`.
    #[serde(deserialize_with = "de::string")]
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
            dogstatsd_route_cache_size: 8192,
            dogstatsd_context_expiry_seconds: 20,
            dogstatsd_context_limit: 0,
            dogstatsd_buffer_size: 8192,
            dogstatsd_max_metrics_tags: 0,
            dogstatsd_max_tag_length: 4096,
            dogstatsd_max_name_length: 1024,
            dogstatsd_flush_incomplete_buckets: false,
            dogstatsd_workers_count: 0,
            dogstatsd_pipeline_count: 1,
            dogstatsd_pipeline_autoadjust: false,
            dogstatsd_pipeline_autoadjust_strategy: "max_throughput".to_string(),
        }
    }
}

impl Config {
    /// Reads a configuration from JSON (the wasm shell's and the tests'
    /// format; YAML is the native shell's business).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// One `dogstatsd_mapper_profiles` entry. Missing fields read as empty so
/// validation can name what is missing, as the Agent does.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MapperProfileConfig {
    /// Profile name (required).
    pub name: String,
    /// Names this profile applies to (`*` = all; required).
    pub prefix: String,
    /// Mappings tried in order.
    pub mappings: Vec<MappingConfig>,
}

/// One mapping of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default)]
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
        Self {
            pattern: pattern.to_owned(),
            match_type: match_type.to_owned(),
            name: name.to_owned(),
            tags: tags
                .iter()
                .map(|&(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

/// Lenient readers matching how the Agent's config library casts values.
pub mod de {
    use super::*;

    fn describe(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "a map",
        }
    }

    /// A boolean, also from `"true"`/`"false"`/`"1"`/`"0"` and numbers.
    pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(b),
            Value::Number(n) => Ok(n.as_f64() != Some(0.0)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "t" | "yes" | "y" | "on" => Ok(true),
                "false" | "0" | "f" | "no" | "n" | "off" | "" => Ok(false),
                _ => Err(D::Error::custom(format!("expected a boolean, got {s:?}"))),
            },
            v => Err(D::Error::custom(format!(
                "expected a boolean, got {}",
                describe(&v)
            ))),
        }
    }

    /// An integer, also from a numeric string.
    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9e18)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| D::Error::custom(format!("expected an integer, got {n}"))),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| D::Error::custom(format!("expected an integer, got {s:?}"))),
            v => Err(D::Error::custom(format!(
                "expected an integer, got {}",
                describe(&v)
            ))),
        }
    }

    /// A string, also from a number or boolean; null reads as empty.
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(s),
            Value::Null => Ok(String::new()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            v => Err(D::Error::custom(format!(
                "expected a string, got {}",
                describe(&v)
            ))),
        }
    }

    /// A list of strings; a single string is a JSON list when it starts
    /// with `[`, else space-separated (as `DD_DOGSTATSD_TAGS` is read).
    pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let item = |v: Value| match v {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            v => Err(D::Error::custom(format!(
                "expected a list of strings, got {} in it",
                describe(&v)
            ))),
        };
        match Value::deserialize(d)? {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items.into_iter().map(item).collect(),
            Value::String(s) if s.trim_start().starts_with('[') => {
                let items: Vec<Value> = serde_json::from_str(&s).map_err(D::Error::custom)?;
                items.into_iter().map(item).collect()
            }
            Value::String(s) => Ok(s.split_whitespace().map(String::from).collect()),
            v => Err(D::Error::custom(format!(
                "expected a list of strings, got {}",
                describe(&v)
            ))),
        }
    }

    /// A structured value, also given as a JSON string (how the Agent
    /// reads `DD_DOGSTATSD_MAPPER_PROFILES`).
    pub fn json_or<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned + Default>(
        d: D,
    ) -> Result<T, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(T::default()),
            Value::String(s) if s.trim().is_empty() => Ok(T::default()),
            Value::String(s) => serde_json::from_str(&s).map_err(D::Error::custom),
            v => serde_json::from_value(v).map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bad_values_name_the_problem() {
        let e = Config::from_json(r#"{"dogstatsd_no_aggregation_pipeline":"maybe"}"#).unwrap_err();
        assert!(e.to_string().contains("expected a boolean"), "{e}");
        assert!(Config::from_json(r#"{"dogstatsd_mapper_cache_size":"x"}"#).is_err());
    }
}
