//! Queue observations on the notification channel (`v2.analytics.queues.{id}.observations`):
//! the snapshot (`o*` metrics) and the 30-minute aggregate, folded from the metric list into
//! [`MetricFold`], which the REST observations query shares.

use core::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::super::json::{count_u32, count_u64, permille, Capped, Text};
use super::super::Rejected;
use crate::event::{Event, Id, Millis, QueueAggregate, QueueObservation};
use crate::limits::MAX_INTERVALS;

/// Longest `interval` (`start/end`, two timestamps of at most 35 bytes each).
const INTERVAL_LEN: usize = 80;

#[derive(Deserialize)]
pub(super) struct ObsBody {
    #[serde(default)]
    data: Capped<ObsData, MAX_INTERVALS>,
}

#[derive(Deserialize)]
pub(crate) struct ObsData {
    interval: Option<Text<INTERVAL_LEN>>,
    #[serde(default)]
    metrics: MetricFold,
}

impl ObsData {
    /// The `interval` (`start/end`) as two instants; `path` names it in a rejection.
    pub(crate) fn interval(&self, path: &'static str) -> Result<(Millis, Millis), Rejected> {
        let interval = self.interval.as_ref().ok_or(Rejected::MissingField(path))?;
        let (start, end) = interval
            .as_str()
            .split_once('/')
            .filter(|_| !interval.truncated)
            .ok_or(Rejected::BadTimestamp(path))?;
        let start = super::super::parse_timestamp(start).ok_or(Rejected::BadTimestamp(path))?;
        let end = super::super::parse_timestamp(end).ok_or(Rejected::BadTimestamp(path))?;
        Ok((start, end))
    }

    /// The interval's figures as a complete snapshot: the counts analytics leaves out when
    /// nothing was counted (`nOffered`, `tAbandon`, and `tAnswered` when `answered_carried`)
    /// are 0, not unknown. The queue topic's aggregate does not carry `tAnswered` (a
    /// live-org capture has `tAlert`, `tAbandon`, `nOffered`, `tConnected`, `tAcd`,
    /// `tNotResponding`, `oServiceLevel`, `tWait`): there, a missing one is unknown.
    pub(crate) fn aggregate(
        &self,
        queue: Id,
        (start, end): (Millis, Millis),
        answered_carried: bool,
    ) -> QueueAggregate {
        let m = &self.metrics;
        QueueAggregate {
            queue,
            interval_start: start,
            interval_end: end,
            offered: m.offered.or(Some(0)),
            answered: if answered_carried {
                m.answered.or(Some(0))
            } else {
                m.answered
            },
            abandoned: m.abandoned.or(Some(0)),
            service_level_permille: m.service_level_permille,
        }
    }
}

/// Every metric of one `metrics`/`data` array folded as it streams by (no capacity, no tail
/// loss): counts summed over entries of the same metric (one per `qualifier`), the
/// longest wait is the maximum, the service level the last valid ratio. Values that are not
/// finite non-negative numbers in range are ignored.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MetricFold {
    pub waiting: Option<u32>,
    pub interacting: Option<u32>,
    pub alerting: Option<u32>,
    pub on_queue: Option<u32>,
    pub off_queue: Option<u32>,
    pub longest_waiting: Option<u64>,
    pub offered: Option<u32>,
    pub answered: Option<u32>,
    pub abandoned: Option<u32>,
    pub service_level_permille: Option<u16>,
}

/// Longest metric name compared (`oLongestWaiting` is 15).
const METRIC_NAME_LEN: usize = 32;

#[derive(Deserialize)]
struct Metric {
    metric: Option<Text<METRIC_NAME_LEN>>,
    stats: Option<Stats>,
}

#[derive(Deserialize)]
struct Stats {
    count: Option<f64>,
    max: Option<f64>,
    ratio: Option<f64>,
    /// What an observations *query* answers for `oLongestWaiting` (ms); the topic sends `max`.
    #[serde(rename = "calculatedMetricValue")]
    calculated: Option<f64>,
}

fn add(slot: &mut Option<u32>, v: Option<u32>) {
    if let Some(v) = v {
        *slot = Some(slot.unwrap_or(0).saturating_add(v));
    }
}

impl MetricFold {
    fn apply(&mut self, m: Metric) {
        let (Some(name), Some(stats)) = (m.metric, m.stats) else {
            return;
        };
        let count = stats.count.and_then(count_u32);
        let is = |n: &str| name.as_str().eq_ignore_ascii_case(n) && !name.truncated;
        if is("oWaiting") {
            add(&mut self.waiting, count);
        } else if is("oInteracting") {
            add(&mut self.interacting, count);
        } else if is("oAlerting") {
            add(&mut self.alerting, count);
        } else if is("oOnQueueUsers") {
            add(&mut self.on_queue, count);
        } else if is("oOffQueueUsers") {
            add(&mut self.off_queue, count);
        } else if is("oLongestWaiting") {
            if let Some(max) = stats.max.or(stats.calculated).and_then(count_u64) {
                self.longest_waiting = Some(self.longest_waiting.map_or(max, |m| m.max(max)));
            }
        } else if is("nOffered") {
            add(&mut self.offered, count);
        } else if is("tAnswered") {
            add(&mut self.answered, count);
        } else if is("tAbandon") {
            add(&mut self.abandoned, count);
        } else if is("oServiceLevel") {
            if let Some(p) = stats.ratio.and_then(permille) {
                self.service_level_permille = Some(p);
            }
        }
    }

    /// The snapshot metrics, as a [`QueueObservation`].
    pub fn observation(&self, queue: Id, observed: Millis) -> QueueObservation {
        QueueObservation {
            queue,
            observed,
            waiting: self.waiting,
            interacting: self.interacting,
            alerting: self.alerting,
            on_queue: self.on_queue,
            off_queue: self.off_queue,
            longest_waiting: self.longest_waiting,
        }
    }
}

impl<'de> Deserialize<'de> for MetricFold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MetricFold;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of metrics")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MetricFold, A::Error> {
                let mut fold = MetricFold::default();
                while let Some(m) = seq.next_element::<Metric>()? {
                    fold.apply(m);
                }
                Ok(fold)
            }
        }
        d.deserialize_seq(V)
    }
}

/// First data item: interval start == end → snapshot, start < end → 30-minute aggregate.
pub(super) fn observation(queue: Id, b: ObsBody) -> Result<Event, Rejected> {
    const PATH: &str = "eventBody.data[].interval";
    let item = b
        .data
        .items
        .into_iter()
        .next()
        .ok_or(Rejected::MissingField("eventBody.data"))?;
    let (start, end) = item.interval(PATH)?;
    match start.cmp(&end) {
        core::cmp::Ordering::Equal => {
            Ok(Event::Observation(item.metrics.observation(queue, start)))
        }
        core::cmp::Ordering::Less => {
            Ok(Event::Aggregate(item.aggregate(queue, (start, end), false)))
        }
        core::cmp::Ordering::Greater => Err(Rejected::BadTimestamp(PATH)),
    }
}
