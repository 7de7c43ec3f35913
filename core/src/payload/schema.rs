//! Field numbers and enum values of the Datadog Agent's payload schema
//! (`proto/metrics/agent_payload.proto` in DataDog/agent-payload), one
//! module per message, for the fields core writes and the test intake
//! reads. Encoders and the decoder name fields only through these.

/// `MetricPayload`.
pub(crate) mod metric_payload {
    /// `repeated MetricSeries series = 1`
    pub(crate) const SERIES: u32 = 1;
}

/// `MetricPayload.MetricSeries`.
pub(crate) mod metric_series {
    /// `repeated Resource resources = 1`
    pub(crate) const RESOURCES: u32 = 1;
    /// `string metric = 2`
    pub(crate) const METRIC: u32 = 2;
    /// `repeated string tags = 3`
    pub(crate) const TAGS: u32 = 3;
    /// `repeated MetricPoint points = 4`
    pub(crate) const POINTS: u32 = 4;
    /// `MetricType type = 5`
    pub(crate) const TYPE: u32 = 5;
    /// `int64 interval = 8`
    pub(crate) const INTERVAL: u32 = 8;
    /// `Metadata metadata = 9`
    pub(crate) const METADATA: u32 = 9;
}

/// `MetricPayload.MetricType` values.
pub(crate) mod metric_type {
    pub(crate) const COUNT: u64 = 1;
    pub(crate) const RATE: u64 = 2;
    pub(crate) const GAUGE: u64 = 3;
}

/// `MetricPayload.Resource`.
pub(crate) mod resource {
    /// `string type = 1`
    pub(crate) const TYPE: u32 = 1;
    /// `string name = 2`
    pub(crate) const NAME: u32 = 2;
}

/// `MetricPayload.MetricPoint`.
pub(crate) mod metric_point {
    /// `double value = 1`
    pub(crate) const VALUE: u32 = 1;
    /// `int64 timestamp = 2`
    pub(crate) const TIMESTAMP: u32 = 2;
}

/// `Metadata`.
pub(crate) mod metadata {
    /// `Origin origin = 1`
    pub(crate) const ORIGIN: u32 = 1;
}

/// `Origin`.
pub(crate) mod origin {
    /// `uint32 origin_product = 4`
    pub(crate) const PRODUCT: u32 = 4;
    /// `uint32 origin_category = 5`
    pub(crate) const CATEGORY: u32 = 5;
}

/// `SketchPayload`.
pub(crate) mod sketch_payload {
    /// `repeated Sketch sketches = 1`
    pub(crate) const SKETCHES: u32 = 1;
    /// `CommonMetadata metadata = 2`
    pub(crate) const METADATA: u32 = 2;
}

/// `SketchPayload.Sketch`.
pub(crate) mod sketch {
    /// `string metric = 1`
    pub(crate) const METRIC: u32 = 1;
    /// `string host = 2`
    pub(crate) const HOST: u32 = 2;
    /// `repeated string tags = 4`
    pub(crate) const TAGS: u32 = 4;
    /// `repeated Dogsketch dogsketches = 7`
    pub(crate) const DOGSKETCHES: u32 = 7;
    /// `Metadata metadata = 8`
    pub(crate) const METADATA: u32 = 8;
}

/// `SketchPayload.Sketch.Dogsketch`.
pub(crate) mod dogsketch {
    /// `int64 ts = 1`
    pub(crate) const TS: u32 = 1;
    /// `int64 cnt = 2`
    pub(crate) const CNT: u32 = 2;
    /// `double min = 3`
    pub(crate) const MIN: u32 = 3;
    /// `double max = 4`
    pub(crate) const MAX: u32 = 4;
    /// `double avg = 5`
    pub(crate) const AVG: u32 = 5;
    /// `double sum = 6`
    pub(crate) const SUM: u32 = 6;
    /// `repeated sint32 k = 7` (packed)
    pub(crate) const K: u32 = 7;
    /// `repeated uint32 n = 8` (packed)
    pub(crate) const N: u32 = 8;
}
