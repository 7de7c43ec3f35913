//! Helpers shared by the end-to-end tests: finding and running the real
//! `dogstatsd` binary, the conformance base configuration, and comparing
//! records by the rules of `tests/data/conformance/README`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The repository's test data directory.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Reads a conformance file as JSON.
pub fn conformance(name: &str) -> Value {
    let path = data_dir().join("conformance").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Path of the `dogstatsd` binary of this workspace, built on first use
/// when `cargo test` has not built it already.
pub fn dogstatsd_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<test exe> → target/<profile>/dogstatsd
        let exe = std::env::current_exe().expect("current exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf();
        let bin = profile_dir.join(format!("dogstatsd{}", std::env::consts::EXE_SUFFIX));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-q",
            "-p",
            "dogstatsd-native",
            "--bin",
            "dogstatsd",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building dogstatsd failed");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
}

/// The configuration every conformance case starts from.
pub fn base_config() -> Map<String, Value> {
    serde_json::from_str(
        r#"{"hostname":"default-hostname","dogstatsd_no_aggregation_pipeline":true,
            "dogstatsd_origin_detection_client":false,"statsd_metric_namespace":"",
            "dogstatsd_tags":[],"histogram_aggregates":["max","median","avg","count"],
            "histogram_percentiles":["0.95"],"dogstatsd_mapper_cache_size":1000}"#,
    )
    .expect("base config")
}

/// The base configuration overlaid with a case's `config` object.
pub fn case_config(overlay: Option<&Value>) -> Map<String, Value> {
    let mut cfg = base_config();
    if let Some(Value::Object(o)) = overlay {
        for (k, v) in o {
            cfg.insert(k.clone(), v.clone());
        }
    }
    cfg
}

/// Writes `cfg` as a JSON (hence YAML) config file in a fresh temp dir.
pub fn write_config(cfg: &Map<String, Value>) -> tempdir::TempConfig {
    tempdir::TempConfig::new(&serde_json::to_string_pretty(cfg).expect("json"))
}

/// Temporary config files that clean up after themselves.
pub mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A config file removed on drop.
    #[derive(Debug)]
    pub struct TempConfig {
        path: PathBuf,
    }

    impl TempConfig {
        /// Writes `text` to a unique temp file.
        pub fn new(text: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path =
                std::env::temp_dir().join(format!("dsd-test-{}-{n}.yaml", std::process::id()));
            std::fs::write(&path, text).expect("write temp config");
            Self { path }
        }

        /// The file.
        pub fn path(&self) -> &Path {
            &self.path
        }
    }

    impl Drop for TempConfig {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Runs `dogstatsd <args>` with `stdin`, waiting at most 30 s.
pub fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(dogstatsd_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dogstatsd");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait dogstatsd");
    let _ = writer.join();
    out
}

/// Runs `dogstatsd <subcommand> --config <cfg> [extra]` and returns the
/// JSON records printed, or why it failed.
pub fn try_run_records(
    subcommand: &str,
    cfg: &Map<String, Value>,
    extra: &[&str],
    stdin: &[u8],
) -> Result<Vec<Value>, String> {
    let file = write_config(cfg);
    let path = file.path().to_str().expect("utf-8 temp path").to_string();
    let mut args = vec![subcommand, "--config", &path];
    args.extend_from_slice(extra);
    let out = run(&args, stdin);
    if !out.status.success() {
        return Err(format!(
            "dogstatsd {subcommand} failed: {}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8(out.stdout).map_err(|e| format!("stdout is not UTF-8: {e}"))?;
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| format!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Like [`try_run_records`], panicking on failure.
pub fn run_records(
    subcommand: &str,
    cfg: &Map<String, Value>,
    extra: &[&str],
    stdin: &[u8],
) -> Vec<Value> {
    try_run_records(subcommand, cfg, extra, stdin).unwrap_or_else(|e| panic!("{e}"))
}

/// How tags compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRule {
    /// As multisets (parse, framing).
    Multiset,
    /// As sorted, de-duplicated lists (aggregate).
    SortedSet,
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "+Inf" | "Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn numbers_equal(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let diff = (a - b).abs();
    diff <= 1e-12 || diff <= 1e-9 * a.abs().max(b.abs())
}

/// Field values an expectation may leave "absent": an absent timestamp is
/// `0` or `null`; an absent string is `""` or `null`.
fn absent_equivalent(key: &str, expected: &Value, actual: Option<&Value>) -> bool {
    let actual = actual.unwrap_or(&Value::Null);
    let is_absent = |v: &Value| match v {
        Value::Null => true,
        Value::String(s) => s.is_empty() && key != "hostname",
        Value::Number(n) => key == "timestamp" && n.as_f64() == Some(0.0),
        _ => false,
    };
    matches!(
        key,
        "timestamp" | "aggregation_key" | "source_type" | "message"
    ) && is_absent(expected)
        && is_absent(actual)
}

fn tags_of(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|t| t.as_str().map(String::from))
        .collect()
}

/// Compares one record with its expectation; `Err` says what differs.
/// Extra fields in `actual` are allowed.
pub fn compare_record(expected: &Value, actual: &Value, tags: TagRule) -> Result<(), String> {
    let (Some(exp), Some(act)) = (expected.as_object(), actual.as_object()) else {
        return Err(format!("not objects: {expected} vs {actual}"));
    };
    for (key, ev) in exp {
        let av = act.get(key);
        if absent_equivalent(key, ev, av) {
            continue;
        }
        let Some(av) = av else {
            return Err(format!("missing field {key:?} (expected {ev})"));
        };
        if key == "tags" {
            let (Some(mut e), Some(mut a)) = (tags_of(ev), tags_of(av)) else {
                return Err(format!("tags not lists: {ev} vs {av}"));
            };
            e.sort();
            a.sort();
            if tags == TagRule::SortedSet {
                e.dedup();
                let before = a.len();
                a.dedup();
                if before != a.len() {
                    return Err(format!("tags not de-duplicated: {av}"));
                }
            }
            if e != a {
                return Err(format!("tags differ: expected {ev}, got {av}"));
            }
            continue;
        }
        if !values_equal(ev, av) {
            return Err(format!("field {key:?}: expected {ev}, got {av}"));
        }
    }
    Ok(())
}

fn values_equal(e: &Value, a: &Value) -> bool {
    if let (Some(x), Some(y)) = (as_number(e), as_number(a))
        && (matches!(e, Value::Number(_)) || matches!(a, Value::Number(_)) || e == a)
    {
        return numbers_equal(x, y);
    }
    match (e, a) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        _ => e == a,
    }
}
