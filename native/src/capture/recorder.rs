//! The capture recorder: listeners offer each packet; while a capture is
//! running it is copied into a bounded channel (never waiting: a full
//! channel drops the copy and counts it) and a writer thread appends it
//! to a file under `dogstatsd_capture_path`.
//!
//! A capture runs for the daemon's whole life
//! (`dogstatsd_capture_on_start`, `--capture DIR`), or on demand for a
//! duration (`POST /capture?duration=30s` on the admin endpoint, like the
//! Agent's `agent dogstatsd-capture -d 30s`), and can be stopped early
//! (`POST /capture/stop`). One capture at a time.
//!
//! Every capture is bounded: `dogstatsd_capture_max_duration` (a longer
//! request is refused; a whole-life capture ends there) and
//! `dogstatsd_capture_max_bytes` (the capture stops when the next record
//! would take its file past it, and its status says so).

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use dogstatsd_core::config::de;
use dogstatsd_core::protocol::Transport;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{Header, Record, Writer};
use crate::config_error::LoadError;

/// Channel depth when `dogstatsd_capture_depth` is 0.
pub const DEFAULT_DEPTH: usize = 4096;

/// How often the writer makes what it wrote readable (zstd block).
const FLUSH_EVERY: Duration = Duration::from_secs(1);

fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = de::int(d)?;
    if n < 0 {
        return Err(D::Error::custom(format!("must not be negative, got {n}")));
    }
    Ok(n)
}

fn go_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = Value::deserialize(d)?;
    let text = match &v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(D::Error::custom("expected a duration such as \"10m\"")),
    };
    crate::settings::parse_go_duration(&text).ok_or_else(|| {
        D::Error::custom(format!("expected a duration such as \"10m\", got {text:?}"))
    })
}

fn show_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}s", d.as_secs_f64()))
}

/// The capture keys (`datadog.yaml` names; the first two are the
/// Agent's).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct CaptureSettings {
    /// Directory capture files are written to. Default empty: captures
    /// are refused until it is set (nothing is written anywhere the user
    /// did not choose).
    #[serde(deserialize_with = "de::string")]
    pub dogstatsd_capture_path: String,
    /// Packets the capture channel holds before it drops (counted); 0
    /// means 4096. Default 0.
    #[serde(deserialize_with = "non_negative")]
    pub dogstatsd_capture_depth: i64,
    /// Capture from start-up until the daemon stops. Not an Agent key.
    /// Default false.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_capture_on_start: bool,
    /// zstd-compress capture files. Not an Agent key. Default true.
    #[serde(deserialize_with = "de::boolean")]
    pub dogstatsd_capture_compressed: bool,
    /// Longest capture: a longer request is refused (400), a whole-life
    /// capture ends after it. Not an Agent key. Default 10m; 0 = no limit.
    #[serde(deserialize_with = "go_duration", serialize_with = "show_duration")]
    pub dogstatsd_capture_max_duration: Duration,
    /// Largest capture file (bytes before compression): the capture stops
    /// before a record would take it past this. Not an Agent key. Default
    /// 1 GiB; 0 = no limit.
    #[serde(deserialize_with = "non_negative")]
    pub dogstatsd_capture_max_bytes: i64,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        Self {
            dogstatsd_capture_path: String::new(),
            dogstatsd_capture_depth: 0,
            dogstatsd_capture_on_start: false,
            dogstatsd_capture_compressed: true,
            dogstatsd_capture_max_duration: Duration::from_secs(600),
            dogstatsd_capture_max_bytes: 1 << 30,
        }
    }
}

impl CaptureSettings {
    /// Every key read here (for `DD_<KEY>` overrides).
    pub fn keys() -> Vec<String> {
        crate::settings_map::keys_of::<Self>()
    }

    /// Reads the capture keys from raw settings; the error names the key.
    pub fn from_settings(settings: &Map<String, Value>) -> Result<Self, LoadError> {
        crate::settings_map::read_keys(settings)
    }

    /// The channel depth in packets.
    pub fn depth(&self) -> usize {
        match usize::try_from(self.dogstatsd_capture_depth) {
            Ok(0) | Err(_) => DEFAULT_DEPTH,
            Ok(n) => n.min(1 << 20),
        }
    }
}

/// Why a capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `dogstatsd_capture_path` is empty.
    #[error("dogstatsd_capture_path is not set: captures need a directory to go to")]
    NoPath,
    /// A capture is running.
    #[error("a capture is already running ({0})")]
    Running(PathBuf),
    /// The requested duration is above `dogstatsd_capture_max_duration`.
    #[error("duration {requested:?} is above dogstatsd_capture_max_duration ({max:?})")]
    TooLong {
        /// What was asked.
        requested: Duration,
        /// The limit.
        max: Duration,
    },
    /// The directory or file was refused or could not be created.
    #[error("cannot create the capture file: {0}")]
    File(#[from] crate::files::FileError),
    /// The capture file's header could not be written, or the writer
    /// thread could not start.
    #[error("cannot create the capture file {path}: {source}")]
    Create {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// A capture's state, as the admin endpoint reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaptureStatus {
    /// A capture is running.
    pub active: bool,
    /// Its file (or the last one's).
    pub path: Option<String>,
    /// Packets handed to the writer.
    pub packets: u64,
    /// Packets dropped because the capture channel was full.
    pub dropped: u64,
    /// Milliseconds left of a timed capture.
    pub remaining_ms: Option<u64>,
    /// Bytes written to its file (before compression).
    pub bytes: u64,
    /// The limit that ended it, if one did (`dogstatsd_capture_max_bytes`,
    /// `dogstatsd_capture_max_duration`).
    pub stopped_by: Option<String>,
    /// Why the writer stopped early, if it did.
    pub error: Option<String>,
}

/// The channel end the listeners use while a capture runs.
struct Live {
    id: u64,
    tx: Sender<Record>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    packets: AtomicU64,
    dropped: AtomicU64,
    bytes: AtomicU64,
    stopped_by: Mutex<Option<String>>,
}

struct Session {
    id: u64,
    path: PathBuf,
    deadline: Option<Instant>,
    counts: Arc<Counts>,
    thread: Option<JoinHandle<Result<u64, String>>>,
    error: Option<String>,
}

struct Inner {
    active: AtomicBool,
    live: RwLock<Option<Live>>,
    session: Mutex<Option<Session>>,
    next_id: AtomicU64,
    settings: CaptureSettings,
    /// Totals over every capture, for `/metrics`.
    packets: AtomicU64,
    dropped: AtomicU64,
}

/// The recorder, shared by every listener (cheap to clone).
#[derive(Clone)]
pub struct Capture {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

impl Default for Capture {
    fn default() -> Self {
        Self::new(CaptureSettings::default())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Capture {
    /// A recorder with these settings, not capturing.
    pub fn new(settings: CaptureSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                active: AtomicBool::new(false),
                live: RwLock::new(None),
                session: Mutex::new(None),
                next_id: AtomicU64::new(1),
                settings,
                packets: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// True while a capture runs.
    pub fn is_active(&self) -> bool {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// The listeners' hook: one relaxed load when no capture runs.
    #[inline]
    pub fn offer(
        &self,
        transport: Transport,
        payload: &[u8],
        pid: Option<u32>,
        container: Option<&Arc<str>>,
    ) {
        if self.inner.active.load(Ordering::Relaxed) {
            self.record(transport, payload, pid, container);
        }
    }

    #[cold]
    fn record(
        &self,
        transport: Transport,
        payload: &[u8],
        pid: Option<u32>,
        container: Option<&Arc<str>>,
    ) {
        let Ok(live) = self.inner.live.read() else {
            return;
        };
        let Some(live) = live.as_ref() else {
            return;
        };
        let r = Record {
            time_ns: unix_ns(SystemTime::now()),
            transport,
            pid,
            container: container.cloned(),
            payload: payload.to_vec(),
        };
        match live.tx.try_send(r) {
            Ok(()) => {
                live.counts.packets.fetch_add(1, Ordering::Relaxed);
                self.inner.packets.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                live.counts.dropped.fetch_add(1, Ordering::Relaxed);
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Packets captured and dropped over every capture so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.inner.packets.load(Ordering::Relaxed),
            self.inner.dropped.load(Ordering::Relaxed),
        )
    }

    /// The settings.
    pub fn settings(&self) -> &CaptureSettings {
        &self.inner.settings
    }

    /// Starts a capture into a new file under `dogstatsd_capture_path`,
    /// for `duration` (until [`stop`](Self::stop) when `None`);
    /// `compressed` overrides `dogstatsd_capture_compressed`.
    pub fn start(
        &self,
        duration: Option<Duration>,
        compressed: Option<bool>,
    ) -> Result<CaptureStatus, StartError> {
        let s = &self.inner.settings;
        if s.dogstatsd_capture_path.is_empty() {
            return Err(StartError::NoPath);
        }
        let max = s.dogstatsd_capture_max_duration;
        let capped = !max.is_zero() && duration.is_none_or(|d| d > max);
        if let Some(requested) = duration.filter(|_| capped) {
            return Err(StartError::TooLong { requested, max });
        }
        // A whole-life capture ends at the limit.
        let duration = if capped { Some(max) } else { duration };
        let mut session = lock(&self.inner.session);
        if let Some(old) = session.as_mut() {
            if self.is_active() {
                return Err(StartError::Running(old.path.clone()));
            }
            // The previous timed capture ended by itself: reap its writer.
            if let Some(t) = old.thread.take() {
                let _ = t.join();
            }
        }
        let dir = PathBuf::from(&s.dogstatsd_capture_path);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let started = SystemTime::now();
        let compressed = compressed.unwrap_or(s.dogstatsd_capture_compressed);
        let path = dir.join(format!(
            "dogstatsd-capture-{}-{}-{id}.dsdcap",
            started
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            std::process::id()
        ));
        let file = create_file(&dir, &path)?;
        let writer = Writer::new(
            BufWriter::with_capacity(64 * 1024, file),
            Header {
                compressed,
                started_ns: unix_ns(started),
            },
        )
        .map_err(|source| StartError::Create {
            path: path.clone(),
            source,
        })?;
        let (tx, rx) = crossbeam_channel::bounded(s.depth());
        let counts = Arc::new(Counts::default());
        let deadline = duration.map(|d| Instant::now() + d);
        let me = self.clone();
        let thread = std::thread::Builder::new()
            .name("dsd-capture".into())
            .spawn({
                let counts = Arc::clone(&counts);
                let limits = Limits {
                    deadline,
                    whole_life: capped,
                    max_bytes: u64::try_from(s.dogstatsd_capture_max_bytes).unwrap_or(0),
                };
                move || me.write_loop(id, rx, writer, limits, &counts)
            })
            .map_err(|source| StartError::Create {
                path: path.clone(),
                source,
            })?;
        if let Ok(mut live) = self.inner.live.write() {
            *live = Some(Live {
                id,
                tx,
                counts: Arc::clone(&counts),
            });
        }
        self.inner.active.store(true, Ordering::Release);
        tracing::info!(
            path = %path.display(),
            duration = ?duration,
            compressed,
            "traffic capture started"
        );
        *session = Some(Session {
            id,
            path,
            deadline,
            counts,
            thread: Some(thread),
            error: None,
        });
        Ok(status_of(session.as_ref(), true))
    }

    /// Stops the running capture, waits until its file is complete and
    /// returns its final state; `None` when no capture runs.
    pub fn stop(&self) -> Option<CaptureStatus> {
        let mut session = lock(&self.inner.session);
        let s = session.as_mut()?;
        if !self.is_active() && s.thread.is_none() {
            return None;
        }
        self.end_live(s.id);
        if let Some(t) = s.thread.take() {
            match t.join() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => s.error = Some(e),
                Err(_) => s.error = Some("the capture writer panicked".into()),
            }
        }
        let st = status_of(Some(s), false);
        tracing::info!(
            path = ?st.path,
            packets = st.packets,
            dropped = st.dropped,
            "traffic capture stopped"
        );
        Some(st)
    }

    /// Stops taking packets without waiting for the writer (a daemon
    /// dropped without a graceful stop).
    pub fn abort(&self) {
        if let Some(s) = lock(&self.inner.session).as_ref() {
            self.end_live(s.id);
        }
    }

    /// The current (or last) capture's state.
    pub fn status(&self) -> CaptureStatus {
        let session = lock(&self.inner.session);
        status_of(session.as_ref(), self.is_active())
    }

    /// Closes the listeners' channel end of capture `id`.
    fn end_live(&self, id: u64) {
        if let Ok(mut live) = self.inner.live.write()
            && live.as_ref().is_some_and(|l| l.id == id)
        {
            self.inner.active.store(false, Ordering::Release);
            *live = None;
        }
    }

    /// The writer thread: append records until the channel closes (stop),
    /// the deadline passes or the byte limit is reached, then finish the
    /// file.
    fn write_loop(
        &self,
        id: u64,
        rx: Receiver<Record>,
        mut writer: Writer<BufWriter<File>>,
        limits: Limits,
        counts: &Counts,
    ) -> Result<u64, String> {
        let mut written = 0u64;
        let mut bytes = super::HEADER_LEN as u64;
        counts.bytes.store(bytes, Ordering::Relaxed);
        let mut last_flush = Instant::now();
        let mut ended = false;
        let stopped_by = |why: String| {
            tracing::warn!("traffic capture: {why}; capture stopped");
            *lock(&counts.stopped_by) = Some(why);
        };
        let fail = |e: io::Error| {
            self.end_live(id);
            tracing::error!("traffic capture: cannot write: {e}; capture stopped");
            e.to_string()
        };
        loop {
            let now = Instant::now();
            let mut wait = FLUSH_EVERY.saturating_sub(now - last_flush);
            if let (Some(d), false) = (limits.deadline, ended) {
                wait = wait.min(d.saturating_duration_since(now));
            }
            match rx.recv_timeout(wait.max(Duration::from_millis(1))) {
                Ok(r) if ended => drop(r), // past a limit: not written
                Ok(r) => {
                    let len = super::record_len(&r) as u64;
                    if limits.max_bytes > 0 && bytes + len > limits.max_bytes {
                        self.end_live(id);
                        ended = true;
                        stopped_by(format!(
                            "dogstatsd_capture_max_bytes ({} bytes) reached",
                            limits.max_bytes
                        ));
                        continue;
                    }
                    writer.write(&r).map_err(fail)?;
                    written += 1;
                    bytes += len;
                    counts.bytes.store(bytes, Ordering::Relaxed);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if !ended && limits.deadline.is_some_and(|d| Instant::now() >= d) {
                // Closing the channel end: the loop drains what is queued,
                // then sees the disconnect.
                self.end_live(id);
                ended = true;
                if limits.whole_life {
                    stopped_by("dogstatsd_capture_max_duration reached".to_string());
                }
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                writer.flush().map_err(fail)?;
                last_flush = Instant::now();
            }
        }
        writer.finish().map_err(fail)?;
        if ended {
            tracing::info!(packets = written, bytes, "traffic capture finished");
        }
        Ok(written)
    }
}

/// What ends a capture by itself.
#[derive(Debug, Clone, Copy)]
struct Limits {
    deadline: Option<Instant>,
    /// The deadline is `dogstatsd_capture_max_duration` cutting a capture
    /// that asked for none.
    whole_life: bool,
    /// 0 = none.
    max_bytes: u64,
}

fn status_of(s: Option<&Session>, active: bool) -> CaptureStatus {
    let Some(s) = s else {
        return CaptureStatus::default();
    };
    CaptureStatus {
        active,
        path: Some(s.path.display().to_string()),
        packets: s.counts.packets.load(Ordering::Relaxed),
        dropped: s.counts.dropped.load(Ordering::Relaxed),
        remaining_ms: s.deadline.filter(|_| active).map(|d| {
            u64::try_from(d.saturating_duration_since(Instant::now()).as_millis())
                .unwrap_or(u64::MAX)
        }),
        bytes: s.counts.bytes.load(Ordering::Relaxed),
        stopped_by: lock(&s.counts.stopped_by).clone(),
        error: s.error.clone(),
    }
}

/// Creates the directory (0700 when new) and the file (0600, never
/// overwriting, never through a symbolic link, not in a directory others
/// may write to): captures hold whatever clients sent.
fn create_file(dir: &Path, path: &Path) -> Result<File, StartError> {
    crate::files::create_private_dir(dir)?;
    Ok(crate::files::open_write(
        path,
        crate::files::Create::New,
        0o600,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Reader;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dsd-capture-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn capture_in(d: &Path, depth: i64) -> Capture {
        Capture::new(CaptureSettings {
            dogstatsd_capture_path: d.display().to_string(),
            dogstatsd_capture_depth: depth,
            ..CaptureSettings::default()
        })
    }

    #[test]
    fn off_by_default_and_needs_a_path() {
        let c = Capture::default();
        c.offer(Transport::Udp, b"a:1|c", None, None);
        assert_eq!(c.totals(), (0, 0));
        assert!(matches!(c.start(None, None), Err(StartError::NoPath)));
        assert!(c.stop().is_none());
    }

    #[test]
    fn every_capture_is_bounded() {
        let d = dir("caps");
        let c = Capture::new(CaptureSettings {
            dogstatsd_capture_path: d.display().to_string(),
            dogstatsd_capture_max_duration: Duration::from_secs(60),
            dogstatsd_capture_max_bytes: 16 + 3 * 19,
            ..CaptureSettings::default()
        });
        let e = c.start(Some(Duration::from_secs(61)), None).unwrap_err();
        assert!(matches!(e, StartError::TooLong { .. }));
        assert!(
            e.to_string().contains("dogstatsd_capture_max_duration"),
            "{e}"
        );
        // A whole-life capture gets the limit as its deadline.
        let st = c.start(None, Some(false)).unwrap();
        assert!(
            st.remaining_ms
                .is_some_and(|ms| ms > 59_000 && ms <= 60_000)
        );
        for _ in 0..5 {
            c.offer(Transport::Udp, b"abcde", None, None); // 19 bytes each
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.is_active() {
            assert!(Instant::now() < deadline, "the byte limit did not stop it");
            std::thread::sleep(Duration::from_millis(5));
        }
        let done = c.stop().unwrap();
        assert_eq!(done.bytes, 16 + 3 * 19);
        let why = done.stopped_by.unwrap();
        assert!(why.contains("dogstatsd_capture_max_bytes"), "{why}");
        let path = PathBuf::from(done.path.unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16 + 3 * 19);
        assert_eq!(Reader::open(&path).unwrap().count(), 3);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn captures_between_start_and_stop() {
        let d = dir("startstop");
        let c = capture_in(&d, 0);
        c.offer(Transport::Udp, b"before:1|c", None, None);
        let st = c.start(None, Some(true)).unwrap();
        assert!(st.active);
        assert!(matches!(c.start(None, None), Err(StartError::Running(_))));
        c.offer(Transport::Udp, b"a:1|c", None, None);
        let container: Arc<str> = Arc::from("cid");
        c.offer(Transport::UnixDatagram, b"b:2|g", Some(7), Some(&container));
        let done = c.stop().unwrap();
        assert!(!done.active);
        assert_eq!(done.packets, 2);
        c.offer(Transport::Udp, b"after:1|c", None, None);
        let path = PathBuf::from(done.path.unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let recs: Vec<Record> = Reader::open(&path).unwrap().map(Result::unwrap).collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].payload, b"a:1|c");
        assert_eq!(recs[1].pid, Some(7));
        assert_eq!(recs[1].container.as_deref(), Some("cid"));
        assert!(recs[0].time_ns <= recs[1].time_ns);
        // A second capture goes to a new file.
        let st = c.start(None, Some(false)).unwrap();
        assert_ne!(st.path.as_deref(), Some(path.to_str().unwrap()));
        c.stop().unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_timed_capture_ends_by_itself() {
        let d = dir("timed");
        let c = capture_in(&d, 0);
        c.start(Some(Duration::from_millis(50)), None).unwrap();
        c.offer(Transport::Udp, b"a:1|c", None, None);
        let t = Instant::now();
        while c.is_active() && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!c.is_active());
        c.offer(Transport::Udp, b"late:1|c", None, None);
        let st = c.stop().unwrap();
        assert_eq!(st.packets, 1);
        let n = Reader::open(Path::new(&st.path.unwrap())).unwrap().count();
        assert_eq!(n, 1);
        // And a new one may start.
        c.start(None, None).unwrap();
        c.stop().unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_full_channel_drops_and_counts() {
        let d = dir("full");
        let c = capture_in(&d, 1);
        c.start(None, None).unwrap();
        for _ in 0..10_000 {
            c.offer(Transport::Udp, &[b'x'; 512], None, None);
        }
        let st = c.stop().unwrap();
        assert_eq!(st.packets + st.dropped, 10_000);
        assert_eq!(c.totals(), (st.packets, st.dropped));
        let n = Reader::open(Path::new(&st.path.unwrap())).unwrap().count() as u64;
        assert_eq!(n, st.packets);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn settings_name_their_key() {
        let m = serde_json::json!({"dogstatsd_capture_depth": -1});
        let e = CaptureSettings::from_settings(m.as_object().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("dogstatsd_capture_depth"), "{e}");
        let m = serde_json::json!({"dogstatsd_capture_path": "/x", "dogstatsd_capture_on_start": "true"});
        let s = CaptureSettings::from_settings(m.as_object().unwrap()).unwrap();
        assert!(s.dogstatsd_capture_on_start);
        assert_eq!(s.depth(), DEFAULT_DEPTH);
    }
}
