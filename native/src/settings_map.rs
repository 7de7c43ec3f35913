//! Typed settings structs read from the raw settings map (`datadog.yaml`
//! overlaid with `DD_*` variables): the keys a struct reads are the
//! fields of its default, and each key is checked on its own first so an
//! error names it. A leaf module: every settings struct (daemon, capture,
//! secret backend) uses it without importing the others.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config_error::LoadError;

/// Every key a settings struct reads: the fields of its default.
pub fn keys_of<T: Default + Serialize>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Reads a settings struct's keys from raw settings, each on its own first
/// so the error names the key.
pub fn read_keys<T>(settings: &Map<String, Value>) -> Result<T, LoadError>
where
    T: Default + Serialize + serde::de::DeserializeOwned,
{
    let keys = keys_of::<T>();
    let mut mine = Map::new();
    for (key, value) in settings.iter().filter(|(k, _)| keys.contains(k)) {
        let single = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        if let Err(e) = serde_json::from_value::<T>(single) {
            return Err(LoadError::Value(format!("{key}: {e}")));
        }
        mine.insert(key.clone(), value.clone());
    }
    serde_json::from_value(Value::Object(mine)).map_err(|e| LoadError::Value(e.to_string()))
}
