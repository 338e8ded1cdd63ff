//! `tyk-dr iam-policy`: the least-privilege IAM policy for `plan`, `apply` and `destroy`,
//! built from the action lists the AWS adapters keep next to their calls.

use serde_json::json;

use crate::error::{exit, Error};

/// The policy document.
pub fn policy() -> serde_json::Value {
    let actions = tyk_dr_aws::iam::all_actions();
    let by = |prefix: &str| -> Vec<&str> {
        actions
            .iter()
            .copied()
            .filter(|a| a.starts_with(prefix))
            .collect()
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Sid": "TykDrEc2", "Effect": "Allow", "Action": by("ec2:"), "Resource": "*" },
            { "Sid": "TykDrElastiCache", "Effect": "Allow", "Action": by("elasticache:"), "Resource": "*" },
            {
                "Sid": "TykDrTagOnCreate",
                "Effect": "Allow",
                "Action": ["elasticache:AddTagsToResource"],
                "Resource": "*"
            },
            { "Sid": "TykDrRoute53", "Effect": "Allow", "Action": by("route53:"), "Resource": "*" },
            {
                "Sid": "TykDrResolveAmiParameters",
                "Effect": "Allow",
                "Action": ["ssm:GetParameters"],
                "Resource": "arn:aws:ssm:*::parameter/aws/service/*"
            }
        ]
    })
}

/// Prints the policy.
pub fn run() -> Result<u8, Error> {
    println!("{}", serde_json::to_string_pretty(&policy()).expect("JSON"));
    Ok(exit::OK)
}
