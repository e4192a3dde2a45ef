//! SocialDevs load generator. It seeds a realistic graph through the public API (power-law
//! followers), then measures the server with an open-loop constant-rate workload — the
//! DeathStarBench social-network mix by default — recording latency from each request's
//! scheduled send time into HdrHistograms; sweeps rates to find the highest one within a
//! p99 bound; and times post → follower delivery on live home streams.

pub mod api;
pub mod cli;
pub mod follow;
pub mod http1;
pub mod machine;
pub mod mix;
pub mod plot;
pub mod progress;
pub mod report;
pub mod rss;
pub mod schedule;
pub mod seed;
pub mod sessions;
pub mod smoke;
pub mod sse;
pub mod stats;
pub mod sweep;
pub mod texts;
pub mod timer;
pub mod workload;
pub mod zipf;
