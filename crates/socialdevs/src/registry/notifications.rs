//! The notifications service's entry: notifications stored by the notifier (a durable
//! consumer of users' and posts' events), shown with actors from users and posts from posts,
//! delivered live from its own events and, with `SOCIALDEVS_MQTT_URL`, bridged to MQTT.

use std::sync::Arc;

use async_trait::async_trait;
use socialdevs_events::hub::LIVE_QUEUE;
use socialdevs_events::types::NOTIFICATIONS_TOPIC;
use socialdevs_events::worker::Worker;
use socialdevs_events::LiveHub;
use socialdevs_notifications::consumer::Notifier;
use socialdevs_notifications::mqtt::{MqttBridge, MqttFeed, MqttSettings};
use socialdevs_notifications::store::{
    NotificationStore, PgNotificationStore, SqliteNotificationStore,
};
use socialdevs_notifications::{
    NotificationsParts, NotificationsService, PostViews, UserDirectory, SERVICE,
};
use socialdevs_platform::streams::{OpenStreams, StreamLimits};
use socialdevs_posts::PostsService;
use socialdevs_users::UsersService;

use super::{Dependency, Entry, Module, StartContext};
use crate::config::Settings;
use crate::keys::Keys;
use crate::storage::{StoreOpener, StoreSpec};
use crate::wiring::{
    InProcessPostViews, InProcessUserDirectory, RemotePostViews, RemoteUserDirectory,
};

/// The notifications service.
pub struct Notifications;

static STORE: StoreSpec<dyn NotificationStore> = StoreSpec {
    sqlite_migrations: socialdevs_notifications::migrations::SQLITE,
    postgres_migrations: socialdevs_notifications::migrations::POSTGRES,
    sqlite: |db, signal| Arc::new(SqliteNotificationStore::new(db).with_outbox_signal(signal)),
    postgres: |db, signal| Arc::new(PgNotificationStore::new(db).with_outbox_signal(signal)),
};

/// The MQTT bridge's settings, when `SOCIALDEVS_MQTT_URL` is set.
fn mqtt_settings(settings: &Settings) -> Option<MqttSettings> {
    let url = settings.mqtt_url.as_deref().map(str::trim)?;
    if url.is_empty() {
        return None;
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("pid{}", std::process::id()));
    Some(MqttSettings {
        url: url.to_owned(),
        username: settings.mqtt_username.clone(),
        password: settings.mqtt_password.clone(),
        ca_file: settings.mqtt_ca_file.clone(),
        client_id: format!("socialdevs-notifications-{host}"),
        queue: settings.mqtt_queue.max(1),
    })
}

#[async_trait]
impl Entry for Notifications {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn default_port(&self) -> u16 {
        8084
    }

    fn dependencies(&self) -> &'static [Dependency] {
        &[
            Dependency::Service(socialdevs_users::SERVICE),
            Dependency::Service(socialdevs_posts::SERVICE),
        ]
    }

    fn store(&self) -> Option<&'static dyn StoreOpener> {
        Some(&STORE)
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        socialdevs_notifications::http::openapi()
    }

    fn check(&self, settings: &Settings, _keys: &Keys) -> anyhow::Result<()> {
        if let Some(mqtt) = mqtt_settings(settings) {
            mqtt.options()?;
        }
        Ok(())
    }

    async fn start(&self, cx: &StartContext<'_>) -> anyhow::Result<Module> {
        let store = cx.own_store::<dyn NotificationStore>()?;
        let users: Arc<dyn UserDirectory> =
            match cx.local::<UsersService>(socialdevs_users::SERVICE)? {
                Some(users) => Arc::new(InProcessUserDirectory(users)),
                None => Arc::new(RemoteUserDirectory(cx.client(socialdevs_users::SERVICE)?)),
            };
        let posts: Arc<dyn PostViews> = match cx.local::<PostsService>(socialdevs_posts::SERVICE)? {
            Some(posts) => Arc::new(InProcessPostViews(posts)),
            None => Arc::new(RemotePostViews(cx.client(socialdevs_posts::SERVICE)?)),
        };
        let service = NotificationsService::new(store.clone(), users, posts);
        let notifier = cx.durable_consumer(Notifier::consumer(store)).await;
        let live = LiveHub::new(SERVICE, LIVE_QUEUE);
        let live_feed = cx.live_feed(live.clone(), &[NOTIFICATIONS_TOPIC]).await;
        let settings = cx.settings;
        let router = socialdevs_notifications::router(
            NotificationsParts {
                service: service.clone(),
                live,
                streams: OpenStreams::new(
                    StreamLimits {
                        per_user: settings.timeline_streams_per_user.max(1),
                        total: settings.timeline_streams_max.max(1),
                    },
                    socialdevs_notifications::STREAMS_OPEN,
                ),
                shutdown: cx.shutdown.clone(),
                verifier: cx.verifier.clone(),
            }
            .into(),
        );
        let mut module = cx.module(router).worker(notifier).worker(live_feed);
        if let Some(mqtt) = mqtt_settings(settings) {
            let (bridge, connection) = MqttBridge::start(&mqtt, cx.shutdown.clone())?;
            module.readiness.push(bridge.readiness());
            let feed = cx
                .durable_consumer(MqttFeed { service, bridge }.consumer())
                .await;
            module = module
                .worker(Worker::spawn(
                    format!("{SERVICE}-mqtt-connection"),
                    connection,
                ))
                .worker(feed);
        }
        Ok(module)
    }
}
