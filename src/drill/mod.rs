//! Failover drills: a real failover and failback under load, every guarantee
//! checked against the thresholds in `[drills]`, and a report an auditor and an
//! engineer can both read (JSON, Markdown, HTML), kept in a history that shows
//! the trend.

pub mod history;
pub mod html;
pub mod load;
pub mod report;
pub mod run;
pub mod schedule;
