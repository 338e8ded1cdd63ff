//! Small constructors for CloudFormation intrinsic functions, so templates never spell them twice.

use serde_json::{json, Value};

/// `{"Ref": id}`: a parameter, resource or pseudo parameter.
pub fn r(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `{"Fn::GetAtt": [id, attr]}`: an attribute of a resource.
pub fn get_att(id: &str, attr: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attr] })
}

/// `{"Fn::Sub": s}`: string interpolation of `${Param}` / `${AWS::Region}`.
pub fn sub(s: &str) -> Value {
    json!({ "Fn::Sub": s })
}

/// `{"Fn::Join": [sep, items]}`.
pub fn join(sep: &str, items: Vec<Value>) -> Value {
    json!({ "Fn::Join": [sep, items] })
}

/// `{"Fn::Base64": text}` for EC2 user data (plain text, no interpolation needed).
pub fn base64(text: String) -> Value {
    json!({ "Fn::Base64": text })
}

/// The ARN pattern of a Secrets Manager secret by name in the stack's region
/// (Secrets Manager appends a random 6-character suffix, hence the `-*`).
pub fn secret_arn(name: &str) -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:{name}-*"
    ))
}

/// The ARN of an AWS-managed IAM policy, partition-aware.
pub fn managed_policy(name: &str) -> Value {
    sub(&format!("arn:${{AWS::Partition}}:iam::aws:policy/{name}"))
}
