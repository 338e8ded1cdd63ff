//! The drill schedule for teams that run drills from AWS: an EventBridge
//! Scheduler schedule (from `drills.schedule`, UTC) that runs `tyk-dr drill`
//! through SSM Run Command on instances tagged `tyk-dr:component=drill-runner`,
//! with a role allowed to do exactly that.

use serde_json::json;

use super::intrinsics::{get_att, r, sub};
use super::tags::{tags, Component};
use super::Fragment;
use crate::config::{Config, Side};
use crate::drill::schedule;

/// Adds the schedule, its role and parameter; nothing when no schedule is set or it has no
/// EventBridge form (then the template's metadata says why).
pub fn add(cfg: &Config, f: &mut Fragment) -> Option<String> {
    let expr = cfg.drills.schedule.trim();
    if expr.is_empty() {
        return None;
    }
    let cron = match schedule::eventbridge(expr) {
        Ok(c) => c,
        Err(e) => return Some(e.to_string()),
    };
    f.param(
        "DrillCommand",
        json!({
            "Type": "String",
            "Default": "tyk-dr -c /etc/tyk-dr/tyk-dr.toml drill --yes",
            "Description": "Command the drill runner executes (tyk-dr installed, TYK_DR_GATEWAY_SECRET in its environment)",
        }),
    );
    f.res(
        "DrillSchedulerRole",
        "AWS::IAM::Role",
        json!({
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole",
                               "Condition": {"StringEquals": {"aws:SourceAccount": r("AWS::AccountId")}}}],
            },
            "Policies": [{
                "PolicyName": "run-drill",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "ssm:SendCommand",
                         "Resource": sub("arn:${AWS::Partition}:ssm:${AWS::Region}::document/AWS-RunShellScript")},
                        {"Effect": "Allow", "Action": "ssm:SendCommand",
                         "Resource": sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"),
                         "Condition": {"StringEquals": {"ssm:resourceTag/tyk-dr:component": "drill-runner"}}},
                    ],
                },
            }],
            "Tags": tags(cfg, Side::Active, Component::Drill),
        }),
    );
    let input = json!({
        "DocumentName": "AWS-RunShellScript",
        "Targets": [{"Key": "tag:tyk-dr:component", "Values": ["drill-runner"]}, {"Key": "tag:tyk-dr:project", "Values": [cfg.project]}],
        "Parameters": {"commands": ["__DRILL_COMMAND__"]},
        "TimeoutSeconds": 600,
    })
    .to_string();
    // The JSON has no `${`, so Fn::Sub substitutes exactly the command parameter.
    let input = input.replace("__DRILL_COMMAND__", "${DrillCommand}");
    f.res(
        "DrillSchedule",
        "AWS::Scheduler::Schedule",
        json!({
            "Description": format!("tyk-dr {}: failover drill ({expr} UTC)", cfg.project),
            "ScheduleExpression": cron,
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "Target": {
                "Arn": "arn:aws:scheduler:::aws-sdk:ssm:sendCommand",
                "RoleArn": get_att("DrillSchedulerRole", "Arn"),
                "Input": sub(&input),
                "RetryPolicy": {"MaximumRetryAttempts": 0},
            },
        }),
    );
    f.output(
        "DrillSchedule",
        "EventBridge schedule that runs tyk-dr drill",
        r("DrillSchedule"),
        None,
    );
    None
}
