//! The threads behind the listeners: workers (each owning a core
//! `Worker`: parse, map, enrich, route) and pipelines (each owning a core
//! `Pipeline`: the contexts that shard to it), plus the flush thread that
//! asks them for their output every 15 seconds, on demand, and at stop.
//!
//! Contexts are sharded by hash, so no two threads ever touch the same
//! context and nothing on the hot path takes a lock. All channels are
//! bounded; only the packet queue drops (see `packet`), the worker →
//! pipeline hand-off applies back-pressure instead, which the packet
//! queue then absorbs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, select};
use dogstatsd_core::aggregate::{FlushPlan, Pipeline, SampleBatch, Topology, Worker};
use dogstatsd_core::config::Config;
use dogstatsd_core::flush::Flush;
use dogstatsd_core::server::sort_flush;

use super::packet::{Handover, Packet, PacketPool, PacketSender};
use super::sink::FlushSink;
use super::telemetry::Telemetry;
use super::unix_now;

/// The Agent's flush cadence.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(15);

/// How long the flush thread waits for a worker or pipeline to answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Batches in flight between one worker and one pipeline.
const PIPELINE_QUEUE: usize = 64;

enum WorkerCtl {
    /// Hand over pending events, service checks and timestamped series.
    Drain(Sender<Flush>),
}

enum PipelineMsg {
    Batch(SampleBatch),
    /// The pipeline's part of the flush plan (see [`FlushPlan`]).
    Plan {
        now: i64,
        all: bool,
        reply: Sender<FlushPlan>,
    },
    Flush {
        now: i64,
        all: bool,
        plan: Arc<FlushPlan>,
        reply: Sender<Flush>,
    },
}

enum FlusherCmd {
    /// Flush every bucket now (serverless style); reply when written.
    FlushNow(Sender<()>),
    /// Final flush with what the stopped workers handed back, then exit.
    Stop(Flush),
}

/// Running workers, pipelines and flush thread.
pub(crate) struct Engine {
    workers: Vec<JoinHandle<Flush>>,
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
            let pipeline = Pipeline::new(cfg, pipelines);
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
            let worker = Worker::new(cfg, pipelines)
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

    /// Blocking: waits for the workers (the packet queue must be closed
    /// already, so they finish what it holds), then has the flush thread
    /// flush every bucket and write it, then waits for everything.
    pub(crate) fn stop(mut self) {
        let mut leftovers = Flush::default();
        for h in self.workers.drain(..) {
            match h.join() {
                Ok(f) => merge(&mut leftovers, f),
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
fn worker_loop(mut worker: Worker, mut ctx: WorkerCtx) -> Flush {
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
                    let mut f = Flush::default();
                    worker.drain_into(&mut f);
                    let _ = reply.send(f);
                }
                Err(_) => ctl_open = false,
            },
        }
    }
    ship(&mut worker, &mut ctx, 1);
    ctx.telemetry.set_worker(ctx.index, worker.stats());
    let mut f = Flush::default();
    worker.drain_into(&mut f);
    f
}

/// Samples a worker gathers for a pipeline before handing them over: one
/// channel hand-off (and pipeline wake-up) per packet cost more than the
/// packet itself when packets are small or arrive one at a time.
const SHIP_AT: usize = 512;

/// How long a worker that has no packets keeps samples before handing
/// them over anyway (flushes drain workers first, so this only bounds how
/// stale the pipelines' counters can be).
const SHIP_IDLE: Duration = Duration::from_millis(20);

fn process(worker: &mut Worker, ctx: &mut WorkerCtx, p: Packet) {
    // The container of a Unix datagram's sender (`p.origin`) has no way
    // into core's enrichment yet; see the daemon module docs.
    worker.push(&p.buf, p.transport, unix_now());
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
fn ship(worker: &mut Worker, ctx: &mut WorkerCtx, min: usize) {
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
    mut pipeline: Pipeline,
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
            PipelineMsg::Plan { now, all, reply } => {
                let _ = reply.send(pipeline.plan(now, all));
                continue;
            }
            PipelineMsg::Flush {
                now,
                all,
                plan,
                reply,
            } => {
                let mut f = Flush::default();
                pipeline.flush(now, all, &plan, &mut f);
                // Counters first: whoever waits for the flush then reads
                // them final.
                telemetry.set_pipeline(index, pipeline.stats());
                let _ = reply.send(f);
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
}

impl Flusher {
    fn run(mut self, cmds: Receiver<FlusherCmd>, interval: Duration) {
        let ticker = crossbeam_channel::tick(interval);
        loop {
            select! {
                recv(ticker) -> _ => {
                    let f = self.collect(false, Flush::default());
                    self.write(&f);
                }
                recv(cmds) -> cmd => match cmd {
                    Ok(FlusherCmd::FlushNow(done)) => {
                        let f = self.collect(true, Flush::default());
                        self.write(&f);
                        let _ = done.send(());
                    }
                    Ok(FlusherCmd::Stop(leftovers)) => {
                        // Workers are gone: pipelines hold everything.
                        self.workers.clear();
                        let f = self.collect(true, leftovers);
                        self.write(&f);
                        return;
                    }
                    Err(_) => return,
                },
            }
        }
    }

    /// Drains the workers, then flushes the pipelines: a worker sends its
    /// batches before answering, and each pipeline handles messages in
    /// order, so every sample a worker had routed is in this flush.
    fn collect(&mut self, all: bool, mut out: Flush) -> Flush {
        for w in &self.workers {
            let (tx, rx) = bounded(1);
            if w.send(WorkerCtl::Drain(tx)).is_ok()
                && let Ok(f) = rx.recv_timeout(REPLY_TIMEOUT)
            {
                merge(&mut out, f);
            }
        }
        let now = unix_now();
        // Every pipeline's view first, so zero-fill is decided as if one
        // pipeline held every context.
        let mut plan = FlushPlan::default();
        for p in &self.pipelines {
            let (tx, rx) = bounded(1);
            if p.send(PipelineMsg::Plan {
                now,
                all,
                reply: tx,
            })
            .is_ok()
                && let Ok(part) = rx.recv_timeout(REPLY_TIMEOUT)
            {
                plan.merge(&part);
            }
        }
        let plan = Arc::new(plan);
        for p in &self.pipelines {
            let (tx, rx) = bounded(1);
            if p.send(PipelineMsg::Flush {
                now,
                all,
                plan: Arc::clone(&plan),
                reply: tx,
            })
            .is_ok()
            {
                match rx.recv_timeout(REPLY_TIMEOUT) {
                    Ok(f) => merge(&mut out, f),
                    Err(_) => tracing::error!("a pipeline did not answer the flush in time"),
                }
            }
        }
        sort_flush(&mut out);
        out
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

fn merge(into: &mut Flush, mut from: Flush) {
    into.series.append(&mut from.series);
    into.sketches.append(&mut from.sketches);
    into.events.append(&mut from.events);
    into.service_checks.append(&mut from.service_checks);
}
