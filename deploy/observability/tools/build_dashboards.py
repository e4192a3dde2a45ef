#!/usr/bin/env python3
"""Builds the SocialDevs Grafana dashboards (deploy/observability/grafana/dashboards/*.json).

The JSON files are committed so Grafana can load them as they are; this script is their source.
Edit it, run it, commit both. `--check` exits 1 when a committed file differs from what the
script builds (check.sh runs it that way).

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "grafana" / "dashboards"

PROM = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}

# Latency panels and the latency SLI leave server-sent event streams out: they stay open by design.
NOT_STREAM = 'route!~".*/stream"'
RATE = "$__rate_interval"


class Layout:
    """Places panels left to right on Grafana's 24-column grid and numbers them."""

    def __init__(self) -> None:
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def place(self, panel: dict, w: int, h: int) -> dict:
        if self.x + w > 24:
            self.newline()
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_height = max(self.row_height, h)
        return panel

    def newline(self) -> None:
        if self.x:
            self.y += self.row_height
        self.x = 0
        self.row_height = 0

    def row(self, title: str, collapsed: bool = False, panels: list | None = None) -> dict:
        self.newline()
        panel = {
            "type": "row",
            "title": title,
            "collapsed": collapsed,
            "panels": panels or [],
        }
        panel = self.place(panel, 24, 1)
        self.newline()
        return panel


def target(expr: str, legend: str = "", ref: str = "A", **extra) -> dict:
    t = {"datasource": PROM, "refId": ref, "expr": expr, "legendFormat": legend or "__auto"}
    t.update(extra)
    return t


def loki_target(expr: str, legend: str = "", ref: str = "A", **extra) -> dict:
    t = {"datasource": LOKI, "refId": ref, "expr": expr, "queryType": "range"}
    if legend:
        t["legendFormat"] = legend
    t.update(extra)
    return t


def timeseries(title: str, description: str, targets: list, unit: str = "short",
               datasource: dict = PROM, stack: bool = False, thresholds: list | None = None,
               bars: bool = False, minimum: float | None = None,
               overrides: list | None = None) -> dict:
    custom = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 60 if bars else 10,
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": "normal" if stack or bars else "none", "group": "A"},
    }
    defaults: dict = {"unit": unit, "custom": custom}
    if minimum is not None:
        defaults["min"] = minimum
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
        custom["thresholdsStyle"] = {"mode": "line+area"}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": datasource,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {"displayMode": "table", "placement": "right", "showLegend": True,
                       "calcs": ["mean", "max", "lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title: str, description: str, expr: str, unit: str = "short",
         steps: list | None = None, legend: str = "", decimals: int | None = None) -> dict:
    defaults: dict = {
        "unit": unit,
        "thresholds": {"mode": "absolute",
                       "steps": steps or [{"color": "green", "value": None}]},
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": PROM,
        "targets": [target(expr, legend, instant=True)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "area",
            "textMode": "auto",
            "justifyMode": "auto",
            "orientation": "auto",
        },
    }


def table(title: str, description: str, targets: list, datasource: dict = PROM,
          transformations: list | None = None, overrides: list | None = None) -> dict:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": datasource,
        "targets": targets,
        "transformations": transformations or [],
        "fieldConfig": {"defaults": {"custom": {"align": "auto"}}, "overrides": overrides or []},
        "options": {"showHeader": True, "cellHeight": "sm"},
    }


def logs(title: str, description: str, expr: str) -> dict:
    return {
        "type": "logs",
        "title": title,
        "description": description,
        "datasource": LOKI,
        "targets": [loki_target(expr)],
        "options": {
            "showTime": True,
            "wrapLogMessage": True,
            "prettifyLogMessage": False,
            "enableLogDetails": True,
            "dedupStrategy": "none",
            "sortOrder": "Descending",
        },
    }


def red(color: str, value: float | None) -> dict:
    return {"color": color, "value": value}


RATIO_STEPS = [red("green", None), red("orange", 0.005), red("red", 0.05)]
LATENCY_STEPS = [red("green", None), red("orange", 0.5), red("red", 1)]


def dashboard(uid: str, title: str, description: str, tags: list, panels: list,
              variables: list | None = None, links: list | None = None) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["socialdevs"] + tags,
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "links": links or [],
        "templating": {"list": variables or []},
        "panels": panels,
    }


DASHBOARD_LINKS = [{
    "title": "SocialDevs", "type": "dashboards", "tags": ["socialdevs"], "asDropdown": True,
    "includeVars": False, "keepTime": True, "icon": "external link", "targetBlank": False,
    "tooltip": "", "url": "",
}]


# ---------------------------------------------------------------- event pipeline

# The event pipeline (crates/events, docs/events.md): outbox -> relay -> transport -> consumers
# -> live hub. Every replica's relay reports its service's outbox backlog (active or standing
# by) and every replica of a consumer group reports the group's lag: those take the maximum.
DEAD_LETTERS = 'socialdevs_events_consumed_total{outcome="dead_letter"}'
# Dead letters in the last 15 minutes, as the alert counts them: a series that appeared within
# the window (its first dead letter in a process) by its value, the others by their increase.
DEAD_LETTERS_15M = (f"({DEAD_LETTERS} unless {DEAD_LETTERS} offset 15m) "
                    f"or increase({DEAD_LETTERS}[15m])")
DEAD_LETTER_HIGHLIGHT = [{
    "matcher": {"id": "byRegexp", "options": ".*dead_letter.*"},
    "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                   {"id": "custom.lineWidth", "value": 3},
                   {"id": "custom.fillOpacity", "value": 40}],
}]


def selector(name: str, matchers: str) -> str:
    return f"{name}{{{matchers}}}" if matchers else name


def event_pipeline(g: Layout, outbox: str = "", of_process: str = "") -> list:
    """The event-pipeline panels. `outbox`: label matchers for the relay metrics (they carry
    `service`); `of_process`: a filter appended to consumer and live-hub series (they carry
    `group` or `hub`, and come from the processes that run them)."""
    of = f" {of_process}" if of_process else ""
    p = []
    p.append(g.place(timeseries(
        "Outbox pending by service", "Events written but not yet published by the relay. "
        "Grows while the relay or the transport is down; drains in batches when it is back.",
        [target(f"max by (service) ({selector('socialdevs_events_outbox_pending', outbox)})",
                "{{service}}")], "short", minimum=0), 8, 8))
    p.append(g.place(timeseries(
        "Oldest unpublished event by service", "Age of the oldest event waiting in each outbox "
        "(0 when none waits). Normally under a second; alert above 60 s for 5 minutes.",
        [target("max by (service) "
                f"({selector('socialdevs_events_outbox_oldest_age_seconds', outbox)})",
                "{{service}}")], "s", minimum=0,
        thresholds=[red("transparent", None), red("red", 60)]), 8, 8))
    p.append(g.place(timeseries(
        "Publish failures by service", "Relay batches that failed per second (the broker or "
        "the database did not answer); retried in order. Alert above one a minute for 10 minutes.",
        [target("sum by (service) (rate("
                f"{selector('socialdevs_events_publish_failures_total', outbox)}[{RATE}]))",
                "{{service}}")], "short", minimum=0), 8, 8))

    p.append(g.place(timeseries(
        "Events published by type", "Events the relays published per second, by CloudEvents type.",
        [target("sum by (type) (rate("
                f"{selector('socialdevs_events_published_total', outbox)}[{RATE}]))",
                "{{type}}")], "ops", minimum=0), 12, 8))
    p.append(g.place(timeseries(
        "Events consumed by group and outcome", "Events handled per second by each consumer "
        "group: ok, or dead_letter (undecodable or rejected by the handler; in red).",
        [target(f"sum by (group, outcome) (rate(socialdevs_events_consumed_total[{RATE}]){of})",
                "{{group}} {{outcome}}")], "ops", minimum=0,
        overrides=DEAD_LETTER_HIGHLIGHT), 12, 8))

    p.append(g.place(timeseries(
        "Consumer lag by group and topic", "Events published but not yet committed by each "
        "group. Alerts above 1000 for 10 minutes, or above 100 and growing for 10 minutes.",
        [target(f"max by (group, topic) (socialdevs_events_consumer_lag{of})",
                "{{group}} {{topic}}")], "short", minimum=0,
        thresholds=[red("transparent", None), red("red", 1000)]), 8, 8))
    p.append(g.place(timeseries(
        "Handler duration p95 by group", "Time each handler attempt takes, retried ones included.",
        [target("histogram_quantile(0.95, sum by (group, le) "
                f"(rate(socialdevs_events_handler_duration_seconds_bucket[{RATE}]){of}))",
                "{{group}}")], "s", minimum=0), 8, 8))
    p.append(g.place(timeseries(
        "Delivery latency by group (p50, p99)", "From an event's commit to its handling by the "
        "group: end-to-end delay. The red line is the 5 s p99 alert threshold.",
        [target("histogram_quantile(0.5, sum by (group, le) "
                f"(rate(socialdevs_events_delivery_latency_seconds_bucket[{RATE}]){of}))",
                "{{group}} p50", "A"),
         target("histogram_quantile(0.99, sum by (group, le) "
                f"(rate(socialdevs_events_delivery_latency_seconds_bucket[{RATE}]){of}))",
                "{{group}} p99", "B")], "s", minimum=0,
        thresholds=[red("transparent", None), red("red", 5)]), 8, 8))

    p.append(g.place(timeseries(
        "Handler retries by group", "Transient handler failures per second (a dependency "
        "down); the event is retried, never skipped, so the group waits and its lag grows.",
        [target(f"sum by (group) (rate(socialdevs_events_handler_retries_total[{RATE}]){of})",
                "{{group}}")], "short", minimum=0), 8, 8))
    p.append(g.place(timeseries(
        "Live subscribers by hub", "Open live streams (SSE) per live hub, all processes together.",
        [target(f"sum by (hub) (socialdevs_live_subscribers{of})", "{{hub}}")],
        "short", minimum=0), 8, 8))
    p.append(g.place(timeseries(
        "Live subscribers dropped by hub, live batches missed",
        "Streams dropped per second because their client read too slowly (the client "
        "reconnects and resynchronises), and batches of live events a relay could not publish "
        "to Redis (the streams missed them; the broker has them).",
        [target(f"sum by (hub) (rate(socialdevs_live_dropped_total[{RATE}]){of})", "{{hub}}"),
         target(f"sum(rate(socialdevs_live_publish_failures_total[{RATE}]){of})",
                "live batches missed", ref="B")],
        "short", minimum=0), 8, 8))
    return p


# ---------------------------------------------------------------- home timelines

# Home timelines (crates/timeline/src/service.rs): the durable consumer group
# socialdevs.timeline.fanout fans each new post out into the timeline store (memory or Redis).
# A read is answered from the store (source "store"), from a cold timeline rebuilt first
# ("rebuilt"), or computed from the other services when the store fails ("fallback"). These
# metrics have no `service` label: they come from the processes serving timeline.
TIMELINE_READS = "socialdevs_timeline_reads_total"
FANOUT_GROUP = 'group="socialdevs.timeline.fanout"'
READ_SOURCE_COLORS = [
    {"matcher": {"id": "byName", "options": name},
     "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}]}
    for name, color in (("store", "green"), ("rebuilt", "orange"), ("fallback", "red"))
]


def hit_ratio(of: str = "", window: str = RATE) -> str:
    """Share of home timeline reads answered from the store."""
    return (f'sum(rate({TIMELINE_READS}{{source="store"}}[{window}]){of}) '
            f"/ sum(rate({TIMELINE_READS}[{window}]){of})")


def quantile(q: str, bucket: str, of: str = "") -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({bucket}[{RATE}]){of}))"


def home_timelines(g: Layout, of_process: str = "") -> list:
    """The home-timeline panels. `of_process`: a filter appended to every series (they come
    from the processes that serve timeline)."""
    of = f" {of_process}" if of_process else ""
    lag = "socialdevs_timeline_fanout_lag_seconds_bucket"
    p = []
    p.append(g.place(timeseries(
        "Cache hit ratio", "Share of home timeline reads answered from the timeline store "
        "(store / all reads). Cold timelines (new, idle past the TTL, evicted) rebuild on "
        "read; reads while the store is down fall back. Alert below 50% for 30 minutes.",
        [target(hit_ratio(of), "hit ratio")], "percentunit", minimum=0,
        thresholds=[red("red", None), red("transparent", 0.5)]), 8, 8))
    p.append(g.place(timeseries(
        "Timeline reads by source", "Home timeline reads per second: store (built timeline), "
        "rebuilt (cold, rebuilt from the follow graph and the posts first) and fallback (the "
        "store failed: computed on read, in red). Alert on fallback reads for 5 minutes.",
        [target(f"sum by (source) (rate({TIMELINE_READS}[{RATE}]){of})", "{{source}}")],
        "ops", stack=True, overrides=READ_SOURCE_COLORS), 8, 8))
    p.append(g.place(timeseries(
        "Timeline rebuilds", "Timelines rebuilt from the follow graph and the posts per second: "
        "cold reads, and every fallback read.",
        [target(f"sum(rate(socialdevs_timeline_rebuilds_total[{RATE}]){of})", "rebuilds")],
        "ops", minimum=0), 8, 8))

    p.append(g.place(timeseries(
        "Store errors by operation", "Failed timeline store calls per second, by operation "
        "(page: the read fell back; replace: a rebuilt timeline was not saved). A series "
        "appears with its first error in a process.",
        [target("sum by (operation) "
                f"(rate(socialdevs_timeline_store_errors_total[{RATE}]){of})",
                "{{operation}}")], "ops", minimum=0), 8, 8))
    p.append(g.place(timeseries(
        "Fan-out lag (p50, p99)", "From a post's creation to its fan-out into the follower "
        "timelines. The red line is the 5 s p99 alert threshold.",
        [target(quantile("0.5", lag, of), "p50", "A"),
         target(quantile("0.99", lag, of), "p99", "B")], "s", minimum=0,
        thresholds=[red("transparent", None), red("red", 5)]), 8, 8))
    p.append(g.place(timeseries(
        "Fan-out consumer lag", "Events published but not yet committed by "
        "socialdevs.timeline.fanout, per topic. Alerts above 1000 for 10 minutes.",
        [target(f"max by (topic) (socialdevs_events_consumer_lag{{{FANOUT_GROUP}}}{of})",
                "{{topic}}")], "short", minimum=0,
        thresholds=[red("transparent", None), red("red", 1000)]), 8, 8))

    p.append(g.place(timeseries(
        "Fan-out size (p50, p95)", "Timelines one post was pushed to: the author's and the "
        "followers'. Authors above the fan-out follower limit push to their own only.",
        [target(quantile("0.5", "socialdevs_timeline_fanout_size_bucket", of), "p50", "A"),
         target(quantile("0.95", "socialdevs_timeline_fanout_size_bucket", of), "p95", "B")],
        "short", minimum=0), 12, 8))
    p.append(g.place(timeseries(
        "Fan-out duration p95", "Time to fan one post out: finding its audience and writing "
        "it into their timelines.",
        [target(quantile("0.95", "socialdevs_timeline_fanout_duration_seconds_bucket", of),
                "p95")], "s", minimum=0), 12, 8))
    return p


# ---------------------------------------------------------------- notifications

# Notifications (crates/notifications): the consumer group socialdevs.notifications.notifier
# turns user and post events into notifications; open streams (SSE) get them live, and with
# SOCIALDEVS_MQTT_URL set the MQTT bridge (group socialdevs.notifications.mqtt) publishes each
# one to socialdevs/users/{user_id}/notifications. Like the timeline metrics these have no
# `service` label: they come from the processes serving notifications.
# socialdevs_notifications_mqtt_connected only exists where the bridge is configured.
NOTIFIER_GROUP = 'group="socialdevs.notifications.notifier"'
MQTT_CONNECTED = "socialdevs_notifications_mqtt_connected"
MQTT_DROPPED_RED = [{
    "matcher": {"id": "byRegexp", "options": "dropped.*"},
    "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}],
}]


def notifications(g: Layout, of_process: str = "") -> list:
    """The notification panels. `of_process`: a filter appended to every series (they come
    from the processes that serve notifications)."""
    of = f" {of_process}" if of_process else ""
    p = []
    p.append(g.place(timeseries(
        "Notifications created by kind", "Notifications stored per second: followed, liked, "
        "mentioned, replied (none for acting on your own content; repeats are collapsed).",
        [target(f"sum by (kind) (rate(socialdevs_notifications_created_total[{RATE}]){of})",
                "{{kind}}")], "ops", stack=True), 8, 8))
    p.append(g.place(timeseries(
        "MQTT published and dropped", "Notifications the MQTT bridge published per second "
        "(QoS 1, acknowledged by the broker) and dropped per second by reason (in red): "
        "queue_full (the broker acknowledges too slowly), disconnected (no broker "
        "connection), render (the message could not be built). Dropped ones reach no device. "
        "Alert on drops for 10 minutes.",
        [target(f"sum(rate(socialdevs_notifications_mqtt_published_total[{RATE}]){of})",
                "published", "A"),
         target("sum by (reason) "
                f"(rate(socialdevs_notifications_mqtt_dropped_total[{RATE}]){of})",
                "dropped {{reason}}", "B")], "ops", minimum=0,
        overrides=MQTT_DROPPED_RED), 8, 8))
    p.append(g.place(timeseries(
        "MQTT bridge connected", "1 while an instance's MQTT bridge is connected to the "
        "broker, 0 while it is not; no series where SOCIALDEVS_MQTT_URL is unset. Alert after "
        "10 minutes at 0.",
        [target(f"max by (instance) ({MQTT_CONNECTED}{of})", "{{instance}}")],
        "short", minimum=0, thresholds=[red("red", None), red("transparent", 1)]), 8, 8))

    p.append(g.place(timeseries(
        "Open notification streams (SSE)", "Live notification streams "
        "(/api/v1/notifications/stream) open on each instance.",
        [target(f"sum by (instance) (socialdevs_notifications_streams_open{of})",
                "{{instance}}")], "short", minimum=0), 12, 8))
    p.append(g.place(timeseries(
        "Notification consumer lag", "Events published but not yet committed by the "
        "notification groups (notifier: creates them; mqtt: the bridge), per topic. Alerts "
        "above 1000 for 10 minutes.",
        [target("max by (group, topic) (socialdevs_events_consumer_lag"
                f'{{group=~"socialdevs.notifications.*"}}{of})', "{{group}} {{topic}}")],
        "short", minimum=0, thresholds=[red("transparent", None), red("red", 1000)]), 12, 8))
    return p


def overview() -> dict:
    g = Layout()
    p = []
    p.append(g.row("Traffic, errors and duration (RED)"))
    p.append(g.place(stat(
        "Requests per second", "All SocialDevs services together.",
        f"sum(rate(socialdevs_http_requests_total[{RATE}]))", "reqps", decimals=1), 4, 4))
    p.append(g.place(stat(
        "5xx ratio", "Share of all requests answered with a 5xx status. SLO budget: 0.5%.",
        f'sum(rate(socialdevs_http_requests_total{{status="5xx"}}[{RATE}])) '
        f"/ sum(rate(socialdevs_http_requests_total[{RATE}]))",
        "percentunit", RATIO_STEPS, decimals=2), 4, 4))
    p.append(g.place(stat(
        "p99 latency", "99th percentile over every service, streaming routes excluded. SLO: 1 s.",
        "histogram_quantile(0.99, sum by (le) "
        f"(rate(socialdevs_http_request_duration_seconds_bucket{{{NOT_STREAM}}}[{RATE}])))",
        "s", LATENCY_STEPS), 4, 4))
    p.append(g.place(stat(
        "Targets up", "SocialDevs processes Prometheus can scrape, out of all it knows.",
        'sum(up{job="socialdevs"})', "short",
        [red("red", None), red("green", 1)], legend="up"), 4, 4))
    p.append(g.place(stat(
        "Instances not ready", "Processes whose readiness checks fail (socialdevs_ready == 0).",
        "count(socialdevs_ready == 0) or vector(0)", "short",
        [red("green", None), red("red", 1)]), 4, 4))
    p.append(g.place(stat(
        "In-flight requests", "Requests being served right now, all services.",
        "sum(socialdevs_http_requests_in_flight)", "short"), 4, 4))

    p.append(g.place(timeseries(
        "Request rate by service", "Requests per second, per service.",
        [target(f"sum by (service) (rate(socialdevs_http_requests_total[{RATE}]))",
                "{{service}}")], "reqps"), 8, 8))
    p.append(g.place(timeseries(
        "5xx ratio by service", "Share of each service's requests that fail with 5xx.",
        [target(f'sum by (service) (rate(socialdevs_http_requests_total{{status="5xx"}}[{RATE}])) '
                f"/ sum by (service) (rate(socialdevs_http_requests_total[{RATE}]))",
                "{{service}}")], "percentunit", minimum=0,
        thresholds=[red("transparent", None), red("red", 0.05)]), 8, 8))
    p.append(g.place(timeseries(
        "p99 latency by service", "Streaming routes excluded. The red line is the 1 s SLO.",
        [target("histogram_quantile(0.99, sum by (service, le) "
                f"(rate(socialdevs_http_request_duration_seconds_bucket{{{NOT_STREAM}}}[{RATE}])))",
                "{{service}}")], "s", minimum=0,
        thresholds=[red("transparent", None), red("red", 1)]), 8, 8))

    p.append(g.place(timeseries(
        "Responses by status class", "2xx, 3xx, 4xx and 5xx answers per second, stacked.",
        [target(f"sum by (status) (rate(socialdevs_http_requests_total[{RATE}]))",
                "{{status}}")], "reqps", stack=True), 8, 8))
    p.append(g.place(timeseries(
        "Busiest routes", "The ten routes with the most requests per second.",
        [target(f"topk(10, sum by (service, method, route) "
                f"(rate(socialdevs_http_requests_total[{RATE}])))",
                "{{service}} {{method}} {{route}}")], "reqps"), 8, 8))
    p.append(g.place(timeseries(
        "Slowest routes (p95)", "The ten routes with the highest 95th percentile latency.",
        [target("topk(10, histogram_quantile(0.95, sum by (service, route, le) "
                f"(rate(socialdevs_http_request_duration_seconds_bucket{{{NOT_STREAM}}}[{RATE}]))))",
                "{{service}} {{route}}")], "s"), 8, 8))

    p.append(g.place(table(
        "Routes: rate, errors and latency",
        "One line per service, method and route over the last 5 minutes.",
        [target(f"sum by (service, method, route) (rate(socialdevs_http_requests_total[5m]))",
                "", "A", instant=True, format="table"),
         target(f'sum by (service, method, route) (rate(socialdevs_http_requests_total{{status="5xx"}}[5m])) '
                f"/ sum by (service, method, route) (rate(socialdevs_http_requests_total[5m]))",
                "", "B", instant=True, format="table"),
         target("histogram_quantile(0.99, sum by (service, method, route, le) "
                "(rate(socialdevs_http_request_duration_seconds_bucket[5m])))",
                "", "C", instant=True, format="table")],
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True},
                "renameByName": {"Value #A": "req/s", "Value #B": "5xx ratio",
                                 "Value #C": "p99"}}},
            {"id": "sortBy", "options": {"sort": [{"field": "req/s", "desc": True}]}},
        ],
        overrides=[
            {"matcher": {"id": "byName", "options": "req/s"},
             "properties": [{"id": "unit", "value": "reqps"}, {"id": "decimals", "value": 2}]},
            {"matcher": {"id": "byName", "options": "5xx ratio"},
             "properties": [{"id": "unit", "value": "percentunit"},
                            {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                            {"id": "thresholds", "value": {"mode": "absolute",
                                                           "steps": RATIO_STEPS}}]},
            {"matcher": {"id": "byName", "options": "p99"},
             "properties": [{"id": "unit", "value": "s"},
                            {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                            {"id": "thresholds", "value": {"mode": "absolute",
                                                           "steps": LATENCY_STEPS}}]},
        ]), 24, 9))

    p.append(g.row("Saturation"))
    p.append(g.place(timeseries(
        "In-flight requests by service", "Requests being served at each moment.",
        [target("sum by (service) (socialdevs_http_requests_in_flight)", "{{service}}")]), 8, 8))
    p.append(g.place(timeseries(
        "DB pool in use", "Share of each instance's database pool connections in use. "
        "Alert at 90%.",
        [target("instance:socialdevs_db_pool_utilisation:ratio", "{{service}} {{instance}}")],
        "percentunit", minimum=0, thresholds=[red("transparent", None), red("red", 0.9)]), 8, 8))
    p.append(g.place(timeseries(
        "DB pool wait (p99)", "How long requests wait to get a database connection.",
        [target("histogram_quantile(0.99, sum by (service, le) "
                f"(rate(socialdevs_db_pool_acquire_duration_seconds_bucket[{RATE}])))",
                "{{service}}")], "s"), 8, 8))
    p.append(g.place(timeseries(
        "CPU by process", "CPU seconds per second used by each SocialDevs process (1 = one core).",
        [target(f'sum by (component, instance) (rate(process_cpu_seconds_total{{job="socialdevs"}}[{RATE}]))',
                "{{component}} {{instance}}")], "short"), 8, 8))
    p.append(g.place(timeseries(
        "Memory by process", "Resident memory of each SocialDevs process.",
        [target('sum by (component, instance) (process_resident_memory_bytes{job="socialdevs"})',
                "{{component}} {{instance}}")], "bytes"), 8, 8))
    p.append(g.place(timeseries(
        "Open file descriptors", "Share of the descriptor limit in use per process.",
        [target('process_open_fds{job="socialdevs"} / process_max_fds{job="socialdevs"}',
                "{{component}} {{instance}}")], "percentunit", minimum=0), 8, 8))
    p.append(g.place(timeseries(
        "Container CPU (cAdvisor)", "CPU cores used by every container on the hosts cAdvisor watches.",
        [target(f'sum by (name) (rate(container_cpu_usage_seconds_total{{image!=""}}[{RATE}]))',
                "{{name}}")], "short"), 12, 8))
    p.append(g.place(timeseries(
        "Container memory (cAdvisor)", "Working set memory of every container.",
        [target('sum by (name) (container_memory_working_set_bytes{image!=""})', "{{name}}")],
        "bytes"), 12, 8))

    p.append(g.row("SLO: 99.5% availability"))
    p.append(g.place(stat(
        "Availability, last 24 h", "Share of requests that did not fail with 5xx, per service.",
        "1 - service:socialdevs_http_errors:ratio_rate1d", "percentunit",
        [red("red", None), red("orange", 0.99), red("green", 0.995)], legend="{{service}}",
        decimals=3), 8, 7))
    p.append(g.place(timeseries(
        "Error budget burn rate", "How fast each service spends its error budget (1 = exactly on "
        "budget for 30 days). Pages at 14.4 over 1 h and 6 over 6 h.",
        [target("service:socialdevs_http_errors:ratio_rate1h / 0.005", "{{service}} 1h", "A"),
         target("service:socialdevs_http_errors:ratio_rate6h / 0.005", "{{service}} 6h", "B")],
        "short", minimum=0,
        thresholds=[red("transparent", None), red("orange", 6), red("red", 14.4)]), 10, 7))
    p.append(g.place(table(
        "Firing alerts", "SocialDevs alerts Prometheus is firing now.",
        [target('sum by (alertname, severity, service, instance) (ALERTS{alertstate="firing"})',
                "", instant=True, format="table")],
        transformations=[{"id": "organize", "options": {
            "excludeByName": {"Time": True, "Value": True}}}]), 6, 7))

    p.append(g.row("Event pipeline"))
    p.append(g.place(stat(
        "Outbox pending", "Events written but not yet published, all services.",
        "sum(max by (service) (socialdevs_events_outbox_pending))", "short",
        [red("green", None), red("orange", 1000)]), 4, 4))
    p.append(g.place(stat(
        "Oldest unpublished event", "Age of the oldest event waiting in any outbox. "
        "Alert above 60 s for 5 minutes.",
        "max(socialdevs_events_outbox_oldest_age_seconds)", "s",
        [red("green", None), red("orange", 10), red("red", 60)]), 4, 4))
    p.append(g.place(stat(
        "Events published per second", "All relays together.",
        f"sum(rate(socialdevs_events_published_total[{RATE}]))", "ops", decimals=1), 4, 4))
    p.append(g.place(stat(
        "Events consumed per second", "Handled successfully, all consumer groups together.",
        f'sum(rate(socialdevs_events_consumed_total{{outcome="ok"}}[{RATE}]))', "ops",
        decimals=1), 4, 4))
    p.append(g.place(stat(
        "Dead letters (15 m)", "Events consumer groups could not apply in the last 15 minutes.",
        f"sum({DEAD_LETTERS_15M}) or vector(0)", "short",
        [red("green", None), red("red", 1)], decimals=0), 4, 4))
    p.append(g.place(stat(
        "Live subscribers", "Open live streams (SSE), all processes.",
        "sum(socialdevs_live_subscribers) or vector(0)", "short"), 4, 4))
    p += event_pipeline(g)

    p.append(g.row("Home timelines"))
    p.append(g.place(stat(
        "Timeline cache hit ratio", "Home timeline reads answered from the timeline store.",
        hit_ratio(), "percentunit", [red("red", None), red("orange", 0.5), red("green", 0.8)],
        decimals=1), 6, 4))
    p.append(g.place(stat(
        "Fallback reads", "Share of home timeline reads computed on read because the "
        "timeline store (Redis) failed.",
        f'sum(rate({TIMELINE_READS}{{source="fallback"}}[{RATE}])) '
        f"/ sum(rate({TIMELINE_READS}[{RATE}]))", "percentunit",
        [red("green", None), red("red", 0.001)], decimals=1), 6, 4))
    p.append(g.place(stat(
        "Fan-out lag p99", "From a post's creation to its fan-out into the follower timelines.",
        quantile("0.99", "socialdevs_timeline_fanout_lag_seconds_bucket"), "s",
        [red("green", None), red("orange", 1), red("red", 5)]), 6, 4))
    p.append(g.place(stat(
        "Fan-out consumer lag", "Events socialdevs.timeline.fanout has not committed yet, "
        "largest topic.",
        f"max(socialdevs_events_consumer_lag{{{FANOUT_GROUP}}})", "short",
        [red("green", None), red("orange", 100), red("red", 1000)], decimals=0), 6, 4))
    p += home_timelines(g)

    p.append(g.row("Notifications"))
    p.append(g.place(stat(
        "Notifications per second", "Notifications created, all kinds together.",
        f"sum(rate(socialdevs_notifications_created_total[{RATE}]))", "ops",
        decimals=1), 4, 4))
    p.append(g.place(stat(
        "Open notification streams", "Live notification streams (SSE), all instances.",
        "sum(socialdevs_notifications_streams_open) or vector(0)", "short"), 4, 4))
    p.append(g.place(stat(
        "MQTT published per second", "Notifications the MQTT bridge published, all instances.",
        f"sum(rate(socialdevs_notifications_mqtt_published_total[{RATE}])) or vector(0)",
        "ops", decimals=1), 4, 4))
    p.append(g.place(stat(
        "MQTT dropped per second", "Notifications the MQTT bridge dropped, every reason.",
        f"sum(rate(socialdevs_notifications_mqtt_dropped_total[{RATE}])) or vector(0)",
        "ops", [red("green", None), red("red", 0.001)], decimals=2), 4, 4))
    p.append(g.place(stat(
        "MQTT bridges disconnected", "Instances whose MQTT bridge is configured but not "
        "connected to the broker.",
        f"count({MQTT_CONNECTED} == 0) or vector(0)", "short",
        [red("green", None), red("red", 1)], decimals=0), 4, 4))
    p.append(g.place(stat(
        "Notifier consumer lag", "Events socialdevs.notifications.notifier has not committed "
        "yet, largest topic.",
        f"max(socialdevs_events_consumer_lag{{{NOTIFIER_GROUP}}})", "short",
        [red("green", None), red("orange", 100), red("red", 1000)], decimals=0), 4, 4))
    p += notifications(g)
    return dashboard(
        "socialdevs-overview", "SocialDevs / Platform overview",
        "Rate, errors and duration per service and route, saturation, the availability SLO, "
        "the event pipeline, home timelines and notifications.",
        ["overview"], p, links=DASHBOARD_LINKS)


SERVICE_VARIABLES = [
    {
        "name": "service", "label": "Service", "type": "query", "datasource": PROM,
        "query": {"query": "label_values(socialdevs_http_requests_total, service)",
                  "refId": "service"},
        "definition": "label_values(socialdevs_http_requests_total, service)",
        "refresh": 2, "sort": 1, "multi": False, "includeAll": False,
        "current": {}, "options": [], "hide": 0,
    },
    {
        "name": "route", "label": "Route", "type": "query", "datasource": PROM,
        "query": {"query": 'label_values(socialdevs_http_requests_total{service="$service"}, route)',
                  "refId": "route"},
        "definition": 'label_values(socialdevs_http_requests_total{service="$service"}, route)',
        "refresh": 2, "sort": 1, "multi": True, "includeAll": True, "allValue": ".*",
        "current": {}, "options": [], "hide": 0,
    },
]

# Process metrics have no `service` label: keep the processes that report readiness for $service
# (in all-in-one that is the one process serving every service).
OF_SERVICE = 'and on (instance) socialdevs_ready{service="$service"}'
SEL = 'service="$service", route=~"$route"'


def service_drilldown() -> dict:
    g = Layout()
    p = []
    p.append(g.row("$service at a glance"))
    p.append(g.place(stat(
        "Requests per second", "", f'sum(rate(socialdevs_http_requests_total{{{SEL}}}[{RATE}]))',
        "reqps", decimals=1), 4, 4))
    p.append(g.place(stat(
        "5xx ratio", "Share of the selected routes' requests that fail with 5xx.",
        f'sum(rate(socialdevs_http_requests_total{{{SEL}, status="5xx"}}[{RATE}])) '
        f'/ sum(rate(socialdevs_http_requests_total{{{SEL}}}[{RATE}]))',
        "percentunit", RATIO_STEPS, decimals=2), 4, 4))
    p.append(g.place(stat(
        "p99 latency", "Streaming routes excluded.",
        "histogram_quantile(0.99, sum by (le) (rate(socialdevs_http_request_duration_seconds_bucket"
        f"{{{SEL}, {NOT_STREAM}}}[{RATE}])))", "s", LATENCY_STEPS), 4, 4))
    p.append(g.place(stat(
        "Ready instances", "Instances of $service whose readiness checks pass.",
        'sum(socialdevs_ready{service="$service"})', "short",
        [red("red", None), red("green", 1)]), 4, 4))
    p.append(g.place(table(
        "Build", "Version and git commit of each $service instance.",
        [target(f"max by (instance, version, git_sha) (socialdevs_build_info {OF_SERVICE})",
                "", instant=True, format="table")],
        transformations=[{"id": "organize", "options": {
            "excludeByName": {"Time": True, "Value": True}}}]), 8, 4))

    p.append(g.row("Requests"))
    p.append(g.place(timeseries(
        "Request rate by route", "Requests per second by method and route.",
        [target(f"sum by (method, route) (rate(socialdevs_http_requests_total{{{SEL}}}[{RATE}]))",
                "{{method}} {{route}}")], "reqps"), 12, 8))
    p.append(g.place(timeseries(
        "Responses by status class", "",
        [target(f"sum by (status) (rate(socialdevs_http_requests_total{{{SEL}}}[{RATE}]))",
                "{{status}}")], "reqps", stack=True), 12, 8))
    p.append(g.place(timeseries(
        "5xx ratio by route", "Share of each route's requests that fail with 5xx.",
        [target(f'sum by (method, route) (rate(socialdevs_http_requests_total{{{SEL}, status="5xx"}}[{RATE}])) '
                f"/ sum by (method, route) (rate(socialdevs_http_requests_total{{{SEL}}}[{RATE}]))",
                "{{method}} {{route}}")], "percentunit", minimum=0,
        thresholds=[red("transparent", None), red("red", 0.05)]), 12, 8))
    p.append(g.place(timeseries(
        "4xx ratio by route", "Client errors: validation, auth, not found, conflicts.",
        [target(f'sum by (method, route) (rate(socialdevs_http_requests_total{{{SEL}, status="4xx"}}[{RATE}])) '
                f"/ sum by (method, route) (rate(socialdevs_http_requests_total{{{SEL}}}[{RATE}]))",
                "{{method}} {{route}}")], "percentunit", minimum=0), 12, 8))

    p.append(g.row("Latency"))
    for quantile, width in (("0.5", 8), ("0.95", 8), ("0.99", 8)):
        p.append(g.place(timeseries(
            f"p{quantile[2:].ljust(2, '0')} latency by route",
            "Per method and route; includes streaming routes when they are selected.",
            [target(f"histogram_quantile({quantile}, sum by (method, route, le) "
                    f"(rate(socialdevs_http_request_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
                    "{{method}} {{route}}")], "s", minimum=0), width, 8))
    heatmap = {
        "type": "heatmap",
        "title": "Latency distribution",
        "description": "Requests per latency bucket over time, streaming routes excluded.",
        "datasource": PROM,
        "targets": [target(
            "sum by (le) (increase(socialdevs_http_request_duration_seconds_bucket"
            f"{{{SEL}, {NOT_STREAM}}}[{RATE}]))", "{{le}}", format="heatmap")],
        "fieldConfig": {"defaults": {"custom": {"scaleDistribution": {"type": "linear"}}},
                        "overrides": []},
        "options": {
            "calculate": False, "cellGap": 1, "yAxis": {"unit": "s"},
            "color": {"mode": "scheme", "scheme": "Oranges", "exponent": 0.5, "steps": 64},
            "rowsFrame": {"layout": "auto"}, "tooltip": {"mode": "single", "yHistogram": True},
        },
    }
    p.append(g.place(heatmap, 24, 8))

    p.append(g.row("Availability SLO"))
    p.append(g.place(timeseries(
        "Error ratio over the SLO windows", "5xx share of all $service requests over each "
        "window. The error budget is 0.5%.",
        [target(f'service:socialdevs_http_errors:ratio_rate{w}{{service="$service"}}', w, ref)
         for w, ref in (("5m", "A"), ("1h", "B"), ("6h", "C"), ("1d", "D"), ("3d", "E"))],
        "percentunit", minimum=0,
        thresholds=[red("transparent", None), red("red", 0.005)]), 12, 8))
    p.append(g.place(timeseries(
        "Burn rate", "Error ratio divided by the 0.5% budget. Pages at 14.4 (1 h) and 6 (6 h).",
        [target('service:socialdevs_http_errors:ratio_rate1h{service="$service"} / 0.005', "1h", "A"),
         target('service:socialdevs_http_errors:ratio_rate6h{service="$service"} / 0.005', "6h", "B"),
         target('service:socialdevs_http_errors:ratio_rate1d{service="$service"} / 0.005', "1d", "C")],
        "short", minimum=0,
        thresholds=[red("transparent", None), red("orange", 6), red("red", 14.4)]), 12, 8))

    p.append(g.row("Saturation"))
    p.append(g.place(timeseries(
        "In-flight requests", "Per instance.",
        [target('socialdevs_http_requests_in_flight{service="$service"}', "{{instance}}")]), 8, 8))
    p.append(g.place(timeseries(
        "DB pool connections", "Connections in use and idle, against the pool size.",
        [target('sum by (state) (socialdevs_db_pool_connections{service="$service"})',
                "{{state}}", "A"),
         target('sum(socialdevs_db_pool_max_connections{service="$service"})', "max", "B")],
        "short", minimum=0), 8, 8))
    p.append(g.place(timeseries(
        "DB pool wait", "Time to get a connection from the pool: p50 and p99.",
        [target("histogram_quantile(0.5, sum by (le) (rate(socialdevs_db_pool_acquire_duration_seconds_bucket"
                f'{{service="$service"}}[{RATE}])))', "p50", "A"),
         target("histogram_quantile(0.99, sum by (le) (rate(socialdevs_db_pool_acquire_duration_seconds_bucket"
                f'{{service="$service"}}[{RATE}])))', "p99", "B")], "s", minimum=0), 8, 8))
    p.append(g.place(timeseries(
        "CPU", "CPU seconds per second of each process serving $service.",
        [target(f"rate(process_cpu_seconds_total[{RATE}]) {OF_SERVICE}", "{{instance}}")]),
        8, 8))
    p.append(g.place(timeseries(
        "Resident memory", "",
        [target(f"process_resident_memory_bytes {OF_SERVICE}", "{{instance}}")], "bytes"), 8, 8))
    p.append(g.place(timeseries(
        "Uptime", "Time since each process started; a drop is a restart.",
        [target(f"time() - process_start_time_seconds {OF_SERVICE}", "{{instance}}")], "s"),
        8, 8))

    p.append(g.row("Calls to other services"))
    p.append(g.place(timeseries(
        "Call latency by target (p95, retries included)",
        "How long $service waits for the services it calls over /internal (distributed "
        "topology only; empty all-in-one, where services call each other in process).",
        [target("histogram_quantile(0.95, sum by (le, target) (rate("
                "socialdevs_client_request_duration_seconds_bucket"
                f'{{service="$service"}}[{RATE}])))', "{{target}}")], "s", minimum=0), 12, 8))
    p.append(g.place(timeseries(
        "Calls by target and outcome",
        "ok; error (an unexpected answer); unavailable (unreachable or 502/503/504 after "
        "retries: $service answered its client 503 with Retry-After).",
        [target("sum by (target, outcome) (rate(socialdevs_client_request_duration_seconds_count"
                f'{{service="$service"}}[{RATE}]))', "{{target}} {{outcome}}")],
        "reqps", minimum=0), 12, 8))

    p.append(g.row("Logs"))
    p.append(g.place(logs(
        "Warnings and errors", "From Loki; the trace_id field links to the trace in Tempo.",
        '{service="$service", level=~"(?i)warn|error"}'), 24, 10))
    # Relay panels show $service's outbox (users, posts); consumer and live-hub panels show
    # what runs in the processes serving $service.
    p.append(g.row("Event pipeline"))
    p += event_pipeline(g, 'service="$service"', OF_SERVICE)
    # Timeline metrics of the processes serving $service: timeline's (or the all-in-one one).
    p.append(g.row("Home timelines"))
    p += home_timelines(g, OF_SERVICE)
    # Notification metrics of the processes serving $service: notifications' (or all-in-one's).
    p.append(g.row("Notifications"))
    p += notifications(g, OF_SERVICE)
    return dashboard(
        "socialdevs-service", "SocialDevs / Service drill-down",
        "One service in detail: per-route traffic, errors, latency percentiles, SLO, DB pool, "
        "process resources, its part of the event pipeline, home timelines (timeline) and "
        "notifications (notifications).",
        ["service"], p,
        SERVICE_VARIABLES, DASHBOARD_LINKS)


LOG_VARIABLES = [
    {
        "name": "service", "label": "Service", "type": "query", "datasource": LOKI,
        "query": {"label": "service", "refId": "service", "stream": "", "type": 1},
        "definition": "label_values(service)",
        "refresh": 2, "sort": 1, "multi": True, "includeAll": True, "allValue": ".+",
        "current": {}, "options": [], "hide": 0,
    },
    {
        "name": "level", "label": "Level", "type": "query", "datasource": LOKI,
        "query": {"label": "level", "refId": "level", "stream": "", "type": 1},
        "definition": "label_values(level)",
        "refresh": 2, "sort": 1, "multi": True, "includeAll": True, "allValue": ".+",
        "current": {}, "options": [], "hide": 0,
    },
    {
        "name": "search", "label": "Line contains", "type": "textbox", "query": "",
        "current": {"text": "", "value": ""}, "options": [], "hide": 0,
    },
]

STREAM = '{service=~"$service", level=~"$level"}'


def logs_dashboard() -> dict:
    g = Layout()
    p = []
    p.append(g.place(timeseries(
        "Log lines by level", "", [loki_target(
            f'sum by (level) (count_over_time({STREAM} |~ "(?i)$search" [$__interval]))',
            "{{level}}")], "short", LOKI, bars=True), 12, 7))
    p.append(g.place(timeseries(
        "Log lines by service", "", [loki_target(
            f'sum by (service) (count_over_time({STREAM} |~ "(?i)$search" [$__interval]))',
            "{{service}}")], "short", LOKI, bars=True), 12, 7))
    p.append(g.place(timeseries(
        "5xx responses by route (from logs)", "Request log lines whose status is 5xx.",
        [loki_target(
            f'sum by (service, route) (count_over_time({STREAM} | json | status=~"5.*" [$__interval]))',
            "{{service}} {{route}}")], "short", LOKI, bars=True), 12, 7))
    p.append(g.place(timeseries(
        "Slowest request per route (from logs)", "Highest latency_ms logged per route.",
        [loki_target(
            f'max by (service, route) (max_over_time({STREAM} | json | latency_ms != "" '
            "| unwrap latency_ms [$__interval]))", "{{service}} {{route}}")],
        "ms", LOKI), 12, 7))
    p.append(g.place(logs(
        "Logs", "JSON lines from the SocialDevs services. Open a line and follow the trace_id "
        "link to see the trace in Tempo.",
        f'{STREAM} |~ "(?i)$search"'), 24, 18))
    return dashboard(
        "socialdevs-logs", "SocialDevs / Logs",
        "Service logs from Loki, filtered by service, level and text, linked to traces.",
        ["logs"], p, LOG_VARIABLES, DASHBOARD_LINKS)


DASHBOARDS = {
    "socialdevs-overview.json": overview,
    "socialdevs-service.json": service_drilldown,
    "socialdevs-logs.json": logs_dashboard,
}


def render(build) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="fail when a committed dashboard differs from what this script builds")
    args = parser.parse_args()
    stale = []
    for name, build in DASHBOARDS.items():
        path = DASHBOARD_DIR / name
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(DASHBOARD_DIR.parent.parent.parent.parent)}")
    if stale:
        print("out of date (run deploy/observability/tools/build_dashboards.py): "
              + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
