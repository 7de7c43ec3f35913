//! The threads behind the listeners, composed from core's threaded form:
//! workers (each owning a core `Router`: parse, map, enrich, route),
//! shards (each owning a core `Shard`: the contexts that hash to it), and
//! the flush thread, which runs core's `FlushRound` on core's `Cadence`,
//! on demand, and at stop.
//!
//! Contexts are sharded by hash, so no two threads ever touch the same
//! context and nothing on the hot path takes a lock. All channels are
//! bounded; only the packet queues drop (see `packet`), the worker →
//! shard hand-off applies back-pressure instead (a route reference in a
//! batch assumes the shard saw every earlier batch of that worker), which
//! the packet queues then absorb.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, select};
use dogstatsd_core::aggregate::{
    FlushMode, FlushRound, Pending, PlanPart, RoundAt, Router, SampleBatch, SealedPlan, Shard,
    ShardFlush, Topology,
};
use dogstatsd_core::config::Config;
use dogstatsd_core::flush::Flush;
use dogstatsd_core::protocol::PacketOrigin;
use dogstatsd_core::{Cadence, Timestamp};

use super::packet::{Handover, Packet, PacketPool, PacketSender};
use super::sink::FlushSink;
use super::telemetry::Telemetry;
use super::unix_now;

/// How long the flush thread waits for a worker or pipeline to answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Batches in flight between one worker and one pipeline.
const PIPELINE_QUEUE: usize = 64;

enum WorkerCtl {
    /// Finish the queue, ship every batch, hand over pending records.
    Drain(Sender<Pending>),
}

enum PipelineMsg {
    Batch(SampleBatch),
    /// The shard's part of the round's plan.
    Plan {
        at: RoundAt,
        reply: Sender<PlanPart>,
    },
    Flush {
        plan: SealedPlan,
        reply: Sender<ShardFlush>,
    },
}

enum FlusherCmd {
    /// Flush every bucket now (serverless style); reply when written.
    FlushNow(Sender<()>),
    /// Final flush with what the stopped workers handed back, then exit.
    Stop(Vec<Pending>),
}

/// Running workers, pipelines and flush thread.
pub(crate) struct Engine {
    workers: Vec<JoinHandle<Pending>>,
    pipelines: Vec<JoinHandle<()>>,
    flusher: Option<JoinHandle<()>>,
    flusher_tx: Sender<FlusherCmd>,
    handover: Arc<Handover>,
}

impl Engine {
    /// Spawns `topo.workers` workers reading `packets` and
    /// `topo.pipelines` pipelines; the flush thread writes to `sink` every
    /// `interval`.
    pub(crate) fn start(
        cfg: &Config,
        topo: Topology,
        packets: Vec<Receiver<Packet>>,
        sender: &PacketSender,
        sink: Box<dyn FlushSink>,
        telemetry: Arc<Telemetry>,
        interval: Duration,
    ) -> std::io::Result<Self> {
        let Topology { workers, pipelines } = topo;
        let pool = sender.pool().clone();
        let handover = Arc::clone(sender.handover());
        let (spare_tx, spare_rx) = bounded::<SampleBatch>(workers * pipelines * 4);
        let mut pipe_txs = Vec::new();
        let mut pipe_handles = Vec::new();
        for i in 0..pipelines {
            let (tx, rx) = bounded(PIPELINE_QUEUE);
            let pipeline = Shard::new(cfg, pipelines);
            let spare = spare_tx.clone();
            let t = Arc::clone(&telemetry);
            pipe_handles.push(
                std::thread::Builder::new()
                    .name(format!("dsd-pipeline-{i}"))
                    .spawn(move || pipeline_loop(i, pipeline, rx, spare, t))?,
            );
            pipe_txs.push(tx);
        }
        let mut ctl_txs = Vec::new();
        let mut worker_handles = Vec::new();
        assert_eq!(packets.len(), workers, "one packet queue per worker");
        for (i, packets) in packets.into_iter().enumerate() {
            let worker = Router::new(cfg, pipelines)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let (ctl_tx, ctl_rx) = bounded(1);
            let ctx = WorkerCtx {
                index: i,
                packets,
                ctl: ctl_rx,
                pipelines: pipe_txs.clone(),
                spare: spare_rx.clone(),
                pool: pool.clone(),
                telemetry: Arc::clone(&telemetry),
                unreported: 0,
            };
            worker_handles.push(
                std::thread::Builder::new()
                    .name(format!("dsd-worker-{i}"))
                    .spawn(move || worker_loop(worker, ctx))?,
            );
            ctl_txs.push(ctl_tx);
        }
        let (flusher_tx, flusher_rx) = bounded(4);
        let flusher = Flusher {
            workers: ctl_txs,
            pipelines: pipe_txs,
            sink,
            telemetry: Arc::clone(&telemetry),
            at_stop: FlushMode::at_stop(cfg.dogstatsd_flush_incomplete_buckets),
        };
        let flusher = std::thread::Builder::new()
            .name("dsd-flush".into())
            .spawn(move || flusher.run(flusher_rx, interval))?;
        Ok(Self {
            workers: worker_handles,
            pipelines: pipe_handles,
            flusher: Some(flusher),
            flusher_tx,
            handover,
        })
    }

    /// A handle that can ask for an immediate flush.
    pub(crate) fn flush_handle(&self) -> FlushHandle {
        FlushHandle {
            tx: self.flusher_tx.clone(),
            handover: Arc::clone(&self.handover),
        }
    }

    /// Blocking: waits for the workers (the packet queues must be closed
    /// already, so they finish what they hold), then has the flush thread
    /// run the final round (`dogstatsd_flush_incomplete_buckets`) and
    /// write it, then waits for everything.
    pub(crate) fn stop(mut self) {
        let mut leftovers = Vec::new();
        for h in self.workers.drain(..) {
            match h.join() {
                Ok(p) => leftovers.push(p),
                Err(_) => tracing::error!("a worker thread panicked"),
            }
        }
        let _ = self.flusher_tx.send(FlusherCmd::Stop(leftovers));
        if let Some(h) = self.flusher.take()
            && h.join().is_err()
        {
            tracing::error!("the flush thread panicked");
        }
        for h in self.pipelines.drain(..) {
            if h.join().is_err() {
                tracing::error!("a pipeline thread panicked");
            }
        }
    }
}

/// Asks the flush thread for a flush of everything now.
#[derive(Clone)]
pub struct FlushHandle {
    tx: Sender<FlusherCmd>,
    handover: Arc<Handover>,
}

impl FlushHandle {
    /// Blocking: has the listeners queue what they received before the
    /// call (waiting up to `wait` for them), then flushes every bucket,
    /// incomplete ones included, with everything queued (the flush round
    /// drains each worker's queue and batches first), and returns once it
    /// is written. False if the daemon is stopping.
    pub fn flush_now(&self, wait: Duration) -> bool {
        if !self.handover.request(wait) {
            tracing::warn!("a listener did not hand over its packets in time for the flush");
        }
        let (tx, rx) = bounded(1);
        if self.tx.send(FlusherCmd::FlushNow(tx)).is_err() {
            return false;
        }
        rx.recv_timeout(REPLY_TIMEOUT * 2).is_ok()
    }
}

struct WorkerCtx {
    index: usize,
    packets: Receiver<Packet>,
    ctl: Receiver<WorkerCtl>,
    pipelines: Vec<Sender<PipelineMsg>>,
    spare: Receiver<SampleBatch>,
    pool: PacketPool,
    telemetry: Arc<Telemetry>,
    /// Packets processed since the worker's counters were last published.
    unreported: u32,
}

/// Runs until the packet queue is closed and empty; returns what is still
/// pending (events, service checks, timestamped series).
fn worker_loop(mut worker: Router, mut ctx: WorkerCtx) -> Pending {
    let never = crossbeam_channel::never();
    let mut ctl_open = true;
    loop {
        let ctl = if ctl_open { &ctx.ctl } else { &never };
        // Samples held back from the pipelines go out once the worker has
        // been idle for SHIP_IDLE.
        let holding = worker.batches_mut().iter().any(|b| !b.is_empty());
        let idle = if holding {
            crossbeam_channel::after(SHIP_IDLE)
        } else {
            crossbeam_channel::never()
        };
        select! {
            recv(idle) -> _ => {
                ship(&mut worker, &mut ctx, 1);
                ctx.telemetry.set_worker(ctx.index, worker.stats());
            },
            recv(ctx.packets) -> p => match p {
                Ok(p) => process(&mut worker, &mut ctx, p),
                Err(_) => break,
            },
            recv(ctl) -> c => match c {
                Ok(WorkerCtl::Drain(reply)) => {
                    // Everything queued before the flush is in it.
                    let queued = ctx.packets.len();
                    for p in ctx.packets.try_iter().take(queued).collect::<Vec<_>>() {
                        process(&mut worker, &mut ctx, p);
                    }
                    ship(&mut worker, &mut ctx, 1);
                    ctx.telemetry.set_worker(ctx.index, worker.stats());
                    let _ = reply.send(worker.take_pending());
                }
                Err(_) => ctl_open = false,
            },
        }
    }
    ship(&mut worker, &mut ctx, 1);
    ctx.telemetry.set_worker(ctx.index, worker.stats());
    worker.take_pending()
}

/// Samples a worker gathers for a pipeline before handing them over: one
/// channel hand-off (and pipeline wake-up) per packet cost more than the
/// packet itself when packets are small or arrive one at a time.
const SHIP_AT: usize = 512;

/// How long a worker that has no packets keeps samples before handing
/// them over anyway (flushes drain workers first, so this only bounds how
/// stale the pipelines' counters can be).
const SHIP_IDLE: Duration = Duration::from_millis(20);

fn process(worker: &mut Router, ctx: &mut WorkerCtx, p: Packet) {
    let origin = PacketOrigin {
        transport: p.transport,
        pid: None,
        container_id: p.origin.as_deref(),
    };
    worker.push(&p.buf, &origin, unix_now());
    ctx.pool.put(p.buf);
    let idle = ctx.packets.is_empty();
    ship(worker, ctx, SHIP_AT);
    ctx.unreported += 1;
    if idle || ctx.unreported >= 64 {
        ctx.telemetry.set_worker(ctx.index, worker.stats());
        ctx.unreported = 0;
    }
    ctx.telemetry.processed.fetch_add(1, Ordering::Release);
}

/// Sends every batch holding at least `min` samples to its pipeline.
fn ship(worker: &mut Router, ctx: &mut WorkerCtx, min: usize) {
    for (i, batch) in worker.batches_mut().iter_mut().enumerate() {
        if batch.is_empty() || batch.len() < min {
            continue;
        }
        let fresh = ctx.spare.try_recv().unwrap_or_default();
        let full = std::mem::replace(batch, fresh);
        // Blocks while the pipeline is behind: back-pressure into the
        // packet queue, which drops when full.
        let _ = ctx.pipelines[i].send(PipelineMsg::Batch(full));
    }
}

fn pipeline_loop(
    index: usize,
    mut pipeline: Shard,
    rx: Receiver<PipelineMsg>,
    spare: Sender<SampleBatch>,
    telemetry: Arc<Telemetry>,
) {
    for msg in rx {
        match msg {
            PipelineMsg::Batch(mut batch) => {
                pipeline.add_batch(&batch);
                batch.clear();
                let _ = spare.try_send(batch);
            }
            PipelineMsg::Plan { at, reply } => {
                let _ = reply.send(pipeline.plan(at));
                continue;
            }
            PipelineMsg::Flush { plan, reply } => {
                let part = pipeline.flush(&plan);
                // Counters first: whoever waits for the flush then reads
                // them final.
                telemetry.set_pipeline(index, pipeline.stats());
                let _ = reply.send(part);
                continue;
            }
        }
        telemetry.set_pipeline(index, pipeline.stats());
    }
}

struct Flusher {
    workers: Vec<Sender<WorkerCtl>>,
    pipelines: Vec<Sender<PipelineMsg>>,
    sink: Box<dyn FlushSink>,
    telemetry: Arc<Telemetry>,
    at_stop: FlushMode,
}

impl Flusher {
    fn run(mut self, cmds: Receiver<FlusherCmd>, interval: Duration) {
        let mut cadence = Cadence::new(interval);
        cadence.start(now());
        loop {
            let wait = cadence
                .poll_timeout()
                .map_or(interval, |due| now().until(due));
            match cmds.recv_timeout(wait) {
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if cadence.handle_timeout(now()) {
                        let f = self.round(FlushMode::Closed, Vec::new());
                        self.write(&f);
                    }
                }
                Ok(FlusherCmd::FlushNow(done)) => {
                    let f = self.round(FlushMode::All, Vec::new());
                    self.write(&f);
                    let _ = done.send(());
                }
                Ok(FlusherCmd::Stop(leftovers)) => {
                    // Workers are gone: shards hold everything else.
                    self.workers.clear();
                    let f = self.round(self.at_stop, leftovers);
                    self.write(&f);
                    return;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// One flush round: drain the workers (each finishes its queue and
    /// ships its batches before answering, and each shard handles its
    /// messages in order, so every sample routed so far is in the round),
    /// then core's protocol: plans, seal, flushes, sorted result.
    fn round(&mut self, mode: FlushMode, pending: Vec<Pending>) -> Flush {
        let mut round = FlushRound::new(unix_now(), mode);
        for p in pending {
            round.add_pending(p);
        }
        for p in ask(&self.workers, WorkerCtl::Drain, "worker") {
            round.add_pending(p);
        }
        let at = round.at();
        for part in ask(
            &self.pipelines,
            |reply| PipelineMsg::Plan { at, reply },
            "shard",
        ) {
            round.add_plan(part);
        }
        let mut round = round.seal();
        let plan = round.plan().clone();
        let parts = ask(
            &self.pipelines,
            |reply| PipelineMsg::Flush {
                plan: plan.clone(),
                reply,
            },
            "shard",
        );
        for part in parts {
            round.add_flush(part);
        }
        round.finish()
    }

    fn write(&mut self, f: &Flush) {
        let t = &self.telemetry;
        t.flushes.fetch_add(1, Ordering::Relaxed);
        t.flushed_series
            .fetch_add(f.series.len() as u64, Ordering::Relaxed);
        t.flushed_sketches
            .fetch_add(f.sketches.len() as u64, Ordering::Relaxed);
        t.flushed_events
            .fetch_add(f.events.len() as u64, Ordering::Relaxed);
        t.flushed_service_checks
            .fetch_add(f.service_checks.len() as u64, Ordering::Relaxed);
        if let Err(e) = self.sink.write(f) {
            t.flush_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!("{e}");
        }
    }
}

/// Sends every thread its request, then gathers the answers (so threads
/// work in parallel); a thread that does not answer in time is logged.
fn ask<M, R>(to: &[Sender<M>], msg: impl Fn(Sender<R>) -> M, what: &str) -> Vec<R> {
    let waiting: Vec<Receiver<R>> = to
        .iter()
        .filter_map(|t| {
            let (tx, rx) = bounded(1);
            t.send(msg(tx)).is_ok().then_some(rx)
        })
        .collect();
    waiting
        .into_iter()
        .filter_map(|rx| match rx.recv_timeout(REPLY_TIMEOUT) {
            Ok(r) => Some(r),
            Err(_) => {
                tracing::error!("a {what} thread did not answer the flush in time");
                None
            }
        })
        .collect()
}

fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_millis(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
