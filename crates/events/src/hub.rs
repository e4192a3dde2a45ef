//! The live hub: process-local fan-out of events to open streams (SSE). Each subscriber has a
//! bounded queue; one that falls behind is dropped and told so (its client reconnects and
//! resynchronises), so a slow client never makes the others miss events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::consumer::{Handler, HandlerError};
use crate::envelope::CloudEvent;
use crate::metrics::{LIVE_DROPPED_TOTAL, LIVE_SUBSCRIBERS};

struct Subscriber {
    sender: mpsc::Sender<Arc<CloudEvent>>,
    lagged: Arc<AtomicBool>,
}

/// How far a live subscriber may fall behind before it is dropped: well above the largest
/// batch a transport hands over at once (Kafka: 500), so a burst — a consumer catching up
/// after a pause — does not drop every open stream at once. Queues grow only as they fill.
pub const LIVE_QUEUE: usize = 2048;

/// A process-local fan-out of events.
#[derive(Clone)]
pub struct LiveHub {
    name: &'static str,
    capacity: usize,
    next: Arc<AtomicU64>,
    subscribers: Arc<Mutex<HashMap<u64, Subscriber>>>,
}

/// Why a live subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It fell behind and was dropped: the client must resynchronise.
    Lagged,
    /// The hub is gone (the process is stopping).
    Closed,
}

/// One subscriber's end of the hub. Dropping it unsubscribes.
pub struct LiveReceiver {
    id: u64,
    receiver: mpsc::Receiver<Arc<CloudEvent>>,
    lagged: Arc<AtomicBool>,
    hub: LiveHub,
}

impl LiveReceiver {
    /// The next event, or why there will be none.
    pub async fn recv(&mut self) -> Result<Arc<CloudEvent>, Ended> {
        match self.receiver.recv().await {
            Some(event) => Ok(event),
            None if self.lagged.load(Ordering::SeqCst) => Err(Ended::Lagged),
            None => Err(Ended::Closed),
        }
    }
}

/// Why a live stream (SSE) ends, as [`LiveReceiver::next_until`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The process is stopping.
    Stopped,
    /// The caller's access token expired: the client reconnects with a fresh one.
    Expired,
    /// The stream fell behind and was dropped: the client reloads, then reconnects.
    Lagged,
    /// The hub is gone.
    Closed,
}

impl StreamEnd {
    /// The event a stream sends its client before it ends, if any: `expired` or `resync`.
    pub fn farewell(self) -> Option<&'static str> {
        match self {
            StreamEnd::Expired => Some("expired"),
            StreamEnd::Lagged => Some("resync"),
            StreamEnd::Stopped | StreamEnd::Closed => None,
        }
    }
}

impl LiveReceiver {
    /// The next event, unless `stop` completes (the process stops) or `deadline` passes (the
    /// access token expires) first, or the subscription ended.
    pub async fn next_until<S: std::future::Future<Output = ()>>(
        &mut self,
        stop: std::pin::Pin<&mut S>,
        deadline: tokio::time::Instant,
    ) -> Result<Arc<CloudEvent>, StreamEnd> {
        tokio::select! {
            () = stop => Err(StreamEnd::Stopped),
            () = tokio::time::sleep_until(deadline) => Err(StreamEnd::Expired),
            received = self.recv() => received.map_err(|ended| match ended {
                Ended::Lagged => StreamEnd::Lagged,
                Ended::Closed => StreamEnd::Closed,
            }),
        }
    }
}

impl Drop for LiveReceiver {
    fn drop(&mut self) {
        self.hub.remove(self.id);
    }
}

impl LiveHub {
    /// A hub named `name` (a metrics label) whose subscribers may fall `capacity` events
    /// behind before they are dropped.
    pub fn new(name: &'static str, capacity: usize) -> Self {
        metrics::counter!(LIVE_DROPPED_TOTAL, "hub" => name).increment(0);
        metrics::gauge!(LIVE_SUBSCRIBERS, "hub" => name).set(0.0);
        Self {
            name,
            capacity: capacity.max(1),
            next: Arc::new(AtomicU64::new(0)),
            subscribers: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Subscribes to everything published from now on.
    pub fn subscribe(&self) -> LiveReceiver {
        let (sender, receiver) = mpsc::channel(self.capacity);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let count = {
            let mut subscribers = self.lock();
            subscribers.insert(
                id,
                Subscriber {
                    sender,
                    lagged: lagged.clone(),
                },
            );
            subscribers.len()
        };
        metrics::gauge!(LIVE_SUBSCRIBERS, "hub" => self.name).set(count as f64);
        LiveReceiver {
            id,
            receiver,
            lagged,
            hub: self.clone(),
        }
    }

    /// How many subscribers there are.
    pub fn subscribers(&self) -> usize {
        self.lock().len()
    }

    /// Hands `event` to every subscriber; drops those whose queue is full.
    pub fn publish(&self, event: Arc<CloudEvent>) {
        let mut dropped = 0u64;
        let count = {
            let mut subscribers = self.lock();
            subscribers.retain(|_, s| match s.sender.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.lagged.store(true, Ordering::SeqCst);
                    dropped += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            subscribers.len()
        };
        if dropped > 0 {
            metrics::counter!(LIVE_DROPPED_TOTAL, "hub" => self.name).increment(dropped);
            tracing::info!(hub = self.name, dropped, "slow live subscribers dropped");
        }
        metrics::gauge!(LIVE_SUBSCRIBERS, "hub" => self.name).set(count as f64);
    }

    fn remove(&self, id: u64) {
        let count = {
            let mut subscribers = self.lock();
            subscribers.remove(&id);
            subscribers.len()
        };
        metrics::gauge!(LIVE_SUBSCRIBERS, "hub" => self.name).set(count as f64);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Subscriber>> {
        // A panic while holding the lock cannot leave the map inconsistent: keep going.
        self.subscribers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The hub is fed by a live consumer: every event goes to every subscriber.
#[async_trait]
impl Handler for LiveHub {
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        self.publish(Arc::new(event.clone()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u32) -> Arc<CloudEvent> {
        Arc::new(CloudEvent::new(
            "posts",
            "t",
            n,
            serde_json::json!({ "n": n }),
        ))
    }

    #[tokio::test]
    async fn a_stream_ends_for_the_first_reason_that_comes() {
        let hub = LiveHub::new("test", 1);
        let later = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut receiver = hub.subscribe();
        hub.publish(event(1));
        let pending = std::future::pending::<()>();
        tokio::pin!(pending);
        assert!(receiver.next_until(pending.as_mut(), later).await.is_ok());
        let now = tokio::time::Instant::now();
        let end = receiver
            .next_until(pending.as_mut(), now)
            .await
            .unwrap_err();
        assert_eq!((end, end.farewell()), (StreamEnd::Expired, Some("expired")));
        let stop = std::future::ready(());
        tokio::pin!(stop);
        let end = receiver.next_until(stop, later).await.unwrap_err();
        assert_eq!((end, end.farewell()), (StreamEnd::Stopped, None));
        hub.publish(event(2));
        hub.publish(event(3)); // the queue holds one: this subscriber is dropped
        assert!(receiver.next_until(pending.as_mut(), later).await.is_ok());
        let end = receiver
            .next_until(pending.as_mut(), later)
            .await
            .unwrap_err();
        assert_eq!((end, end.farewell()), (StreamEnd::Lagged, Some("resync")));
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_dropped_and_the_others_miss_nothing() {
        let hub = LiveHub::new("test", 4);
        let mut fast = hub.subscribe();
        let mut slow = hub.subscribe();
        for n in 0..10 {
            hub.publish(event(n));
            let got = fast.recv().await.unwrap();
            assert_eq!(got.data["n"], n);
        }
        assert_eq!(hub.subscribers(), 1, "the slow one is gone");
        for n in 0..4 {
            assert_eq!(
                slow.recv().await.unwrap().data["n"],
                n,
                "it still gets what was queued"
            );
        }
        assert_eq!(slow.recv().await.unwrap_err(), Ended::Lagged);
        drop(fast);
        assert_eq!(hub.subscribers(), 0);
    }
}
