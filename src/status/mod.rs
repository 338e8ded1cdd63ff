//! The readiness picture of both regions: gather every probe at once
//! ([`collect`]), judge whether the passive region could take over now
//! ([`verdict`]), and show it ([`render`]).

mod collect;
pub mod metrics;
pub mod render;
pub mod verdict;

use serde::Serialize;

pub use collect::{collect, Probes};

use crate::config::Side;
use crate::probes::dns::Resolution;
use crate::probes::gateway::GatewayProbe;
use crate::probes::redis::{CanaryProbe, RedisProbe};

/// Everything observed in one pass, plus the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The project from tyk-dr.toml.
    pub project: String,
    /// When the pass started (ms since epoch).
    pub taken_at_ms: i64,
    /// How long the pass took, milliseconds.
    pub duration_ms: u64,
    /// Active first, then passive.
    pub regions: Vec<RegionStatus>,
    /// The canary's age on the passive side.
    pub canary: CanaryProbe,
    /// Where the names point now.
    pub dns: DnsStatus,
    /// The side serving traffic now, from the fencing epoch (the configured active one when there is
    /// no epoch record): after a failover the verdict judges the other side as the standby.
    pub serving: Side,
    /// The fencing epoch as DNS answers it (`_tyk-dr-epoch.<global name>`).
    pub epoch: Option<crate::playbook::epoch::Epoch>,
    /// Can the passive region take over right now, and if not, why.
    pub verdict: verdict::Verdict,
}

/// One region's components.
#[derive(Debug, Clone, Serialize)]
pub struct RegionStatus {
    /// Active or passive.
    pub side: Side,
    /// AWS region code.
    pub region: String,
    /// Each gateway's answers.
    pub gateways: Vec<GatewayProbe>,
    /// Each Redis server's replication state, primary first.
    pub redis: Vec<RedisProbe>,
    /// Each MongoDB member listed in `[mongo.endpoints]` (empty when Mongo is off or unlisted).
    pub mongo: Vec<crate::probes::mongo::MongoProbe>,
}

/// What the Redis CNAME and the global name resolve to, and which region that is.
#[derive(Debug, Clone, Serialize)]
pub struct DnsStatus {
    /// The Redis CNAME the gateways use.
    pub redis: Resolution,
    /// The region whose Redis the CNAME reaches, when recognised.
    pub redis_points_to: Option<Side>,
    /// The global name clients use.
    pub global: Resolution,
    /// The region whose gateways the global name reaches, when recognised.
    pub global_points_to: Option<Side>,
}

impl Status {
    /// The status of one side.
    pub fn region(&self, side: Side) -> &RegionStatus {
        &self.regions[side as usize]
    }
}
