//! The MQTT bridge: every new notification, as the JSON the API shows, published with QoS 1
//! to `socialdevs/users/{user_id}/notifications` for its recipient's devices.
//!
//! A durable consumer of `notification.created` ([`MqttFeed`]) hands messages to the
//! [`MqttBridge`], whose bounded queue never blocks it: when the broker is away, messages
//! wait in the queue and go out once the client has reconnected (with backoff); when the
//! queue is full they are dropped and counted. Delivery is at least once while a session
//! lasts; messages in flight when the broker goes away may be lost with the session (devices
//! catch up through the API).

use std::io::BufReader;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use rumqttc::{
    AsyncClient, ClientError, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use socialdevs_events::types::{NotificationCreatedV1, NOTIFICATIONS_TOPIC};
use socialdevs_events::{
    CloudEvent, Consumer, Durability, Handler, HandlerError, Latency, StartAt,
};
use socialdevs_platform::health::ReadinessCheck;
use socialdevs_platform::shutdown::Shutdown;
use uuid::Uuid;

use crate::service::NotificationsService;

/// Metric: messages the broker acknowledged.
pub const PUBLISHED_TOTAL: &str = "socialdevs_notifications_mqtt_published_total";
/// Metric: messages dropped, by reason (`queue_full`).
pub const DROPPED_TOTAL: &str = "socialdevs_notifications_mqtt_dropped_total";
/// Metric: 1 while connected to the broker, else 0.
pub const CONNECTED: &str = "socialdevs_notifications_mqtt_connected";

/// The topic of `user`'s notifications.
pub fn topic(user: Uuid) -> String {
    format!("socialdevs/users/{user}/notifications")
}

/// How to reach the broker.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// `mqtt://host[:1883]` or `mqtts://host[:8883]`, optionally with `user:password@`.
    pub url: String,
    /// Username (overrides the URL's).
    pub username: Option<String>,
    /// Password (overrides the URL's).
    pub password: Option<String>,
    /// PEM file of the CA(s) to trust for `mqtts://` (the system's roots otherwise).
    pub ca_file: Option<String>,
    /// The client id (unique per connection at the broker).
    pub client_id: String,
    /// Messages that may wait for the broker before new ones are dropped.
    pub queue: usize,
}

impl MqttSettings {
    /// The client options these settings describe.
    pub fn options(&self) -> anyhow::Result<MqttOptions> {
        let url = url::Url::parse(&self.url).context("SOCIALDEVS_MQTT_URL is not a URL")?;
        let tls = match url.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            other => anyhow::bail!(
                "SOCIALDEVS_MQTT_URL has scheme {other}: use mqtt://host:1883 or mqtts://host:8883"
            ),
        };
        let host = url
            .host_str()
            .context("SOCIALDEVS_MQTT_URL names no host")?;
        let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
        let mut options = MqttOptions::new(&self.client_id, host, port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(256 * 1024, 256 * 1024);
        let username = self
            .username
            .clone()
            .or_else(|| (!url.username().is_empty()).then(|| url.username().to_owned()));
        let password = self
            .password
            .clone()
            .or_else(|| url.password().map(str::to_owned));
        if let Some(username) = username {
            options.set_credentials(username, password.unwrap_or_default());
        }
        if tls {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                Arc::new(self.tls_config()?),
            )));
        }
        Ok(options)
    }

    fn tls_config(&self) -> anyhow::Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot open SOCIALDEVS_MQTT_CA_FILE {path}"))?;
                for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
                    roots.add(cert.with_context(|| format!("{path} is not PEM"))?)?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    // A system root rustls cannot parse is one fewer root, not a failure.
                    let _ = roots.add(cert);
                }
            }
        }
        anyhow::ensure!(
            !roots.is_empty(),
            "no CA certificate to trust for mqtts://: set SOCIALDEVS_MQTT_CA_FILE"
        );
        Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
    }
}

/// The publishing side of the bridge: cheap to clone.
#[derive(Clone)]
pub struct MqttBridge {
    client: AsyncClient,
    connected: Arc<AtomicBool>,
}

impl MqttBridge {
    /// The bridge and the future that keeps its connection (run it as a worker; it ends
    /// with `shutdown`).
    pub fn start(
        settings: &MqttSettings,
        shutdown: Shutdown,
    ) -> anyhow::Result<(Self, impl std::future::Future<Output = ()> + Send + 'static)> {
        let options = settings.options()?;
        let (client, mut eventloop) = AsyncClient::new(options, settings.queue.max(1));
        let connected = Arc::new(AtomicBool::new(false));
        metrics::gauge!(CONNECTED).set(0.0);
        metrics::counter!(PUBLISHED_TOTAL).increment(0);
        metrics::counter!(DROPPED_TOTAL, "reason" => "queue_full").increment(0);
        let flag = connected.clone();
        let url = settings.url.clone();
        let run = async move {
            let mut backoff = Duration::from_millis(200);
            let stop = shutdown.wait();
            tokio::pin!(stop);
            loop {
                let polled = tokio::select! {
                    () = &mut stop => break,
                    polled = eventloop.poll() => polled,
                };
                match polled {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        tracing::info!(broker = %redacted(&url), "MQTT bridge connected");
                        flag.store(true, Ordering::SeqCst);
                        metrics::gauge!(CONNECTED).set(1.0);
                        backoff = Duration::from_millis(200);
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        metrics::counter!(PUBLISHED_TOTAL).increment(1);
                    }
                    Ok(_) => {}
                    Err(err) => {
                        if flag.swap(false, Ordering::SeqCst) {
                            tracing::warn!(error = %err, "MQTT bridge disconnected; reconnecting");
                        } else {
                            tracing::debug!(error = %err, "MQTT broker unreachable");
                        }
                        metrics::gauge!(CONNECTED).set(0.0);
                        tokio::select! {
                            () = &mut stop => break,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
            metrics::gauge!(CONNECTED).set(0.0);
        };
        Ok((Self { client, connected }, run))
    }

    /// Queues `payload` for `user`'s topic; never waits. False when it was dropped.
    pub fn offer(&self, user: Uuid, payload: Vec<u8>) -> bool {
        match self
            .client
            .try_publish(topic(user), QoS::AtLeastOnce, false, payload)
        {
            Ok(()) => true,
            Err(ClientError::TryRequest(_) | ClientError::Request(_)) => {
                metrics::counter!(DROPPED_TOTAL, "reason" => "queue_full").increment(1);
                false
            }
        }
    }

    /// Whether the client is connected to the broker now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// `/readyz`: degraded (not down) while the broker is away.
    pub fn readiness(&self) -> Arc<dyn ReadinessCheck> {
        Arc::new(BrokerCheck(self.clone()))
    }
}

/// The URL without its password, for logs.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

struct BrokerCheck(MqttBridge);

#[async_trait]
impl ReadinessCheck for BrokerCheck {
    fn name(&self) -> &str {
        "mqtt"
    }

    async fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.0.is_connected(), "not connected to the MQTT broker");
        Ok(())
    }

    fn critical(&self) -> bool {
        false
    }
}

/// Hands each new notification, shown as the API shows it, to the bridge.
pub struct MqttFeed {
    /// Shows notifications.
    pub service: NotificationsService,
    /// Publishes them.
    pub bridge: MqttBridge,
}

impl MqttFeed {
    /// The durable consumer group that runs it. A group new to the transport starts at the
    /// newest notification: turning the bridge on does not replay history to devices.
    pub fn consumer(self) -> Consumer {
        Consumer {
            group: "socialdevs.notifications.mqtt".into(),
            topics: vec![NOTIFICATIONS_TOPIC],
            start: StartAt::Latest,
            durability: Durability::Durable,
            latency: Latency::Background,
            handler: Arc::new(self),
        }
    }
}

#[async_trait]
impl Handler for MqttFeed {
    async fn handle(&self, event: &CloudEvent) -> Result<(), HandlerError> {
        let Some(created) = event.decode::<NotificationCreatedV1>() else {
            return Ok(());
        };
        let created = created.map_err(|e| HandlerError::Permanent(e.into()))?;
        let shown = self
            .service
            .one(created.recipient_id, created.notification_id)
            .await
            .map_err(|e| HandlerError::Transient(anyhow::anyhow!("showing a notification: {e}")))?;
        // Gone already (its post was deleted, or the like taken back): nothing to send.
        let Some(notification) = shown else {
            return Ok(());
        };
        let payload =
            serde_json::to_vec(&notification).map_err(|e| HandlerError::Permanent(e.into()))?;
        self.bridge.offer(created.recipient_id, payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> MqttSettings {
        MqttSettings {
            url: url.into(),
            username: None,
            password: None,
            ca_file: None,
            client_id: "test".into(),
            queue: 10,
        }
    }

    #[test]
    fn urls_name_host_port_and_credentials() {
        let options = settings("mqtt://svc:s3cret@broker.example:2883")
            .options()
            .unwrap();
        assert_eq!(options.broker_address(), ("broker.example".into(), 2883));
        let login = options.credentials().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("svc", "s3cret")
        );
        let options = settings("mqtt://broker").options().unwrap();
        assert_eq!(options.broker_address().1, 1883);
        assert!(options.credentials().is_none());
        assert!(settings("http://broker").options().is_err());
        assert!(settings("not a url").options().is_err());
        assert_eq!(
            redacted("mqtt://svc:s3cret@broker:1883"),
            "mqtt://svc:***@broker:1883"
        );
    }

    #[test]
    fn topics_are_per_user() {
        let user = Uuid::now_v7();
        assert_eq!(
            topic(user),
            format!("socialdevs/users/{user}/notifications")
        );
    }
}
