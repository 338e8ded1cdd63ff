#!/usr/bin/env python3
"""Seed the emulator's Route 53 with the local topology (until `tyk-dr apply` does it).

Private zone tyk-dr.internal: redis-a/redis-b A records and the `redis` CNAME the gateways use.
Public zone tyk-dr.test: the global name as a PRIMARY/SECONDARY failover pair with health checks on
each region's first gateway readiness path, and the fencing epoch TXT record.
The shadow stack (non-disruptive drills) gets the same shape under its own names: redis-drill CNAME
(to redis-a) and redis-drill-b (B's shadow copy, .12), and drill-api with health checks on the .24
shadow gateways and its own epoch record.
Idempotent: existing zones are reused and only missing records are created.
"""
import os
import sys

import boto3

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
PUBLIC, PRIVATE = "tyk-dr.test", "tyk-dr.internal"
GLOBAL, SHADOW = f"api.{PUBLIC}", f"drill-api.{PUBLIC}"
REGIONS = {"a": ("us-east-1", "127.0.1"), "b": ("us-west-2", "127.0.2")}


def client(service, region="us-east-1"):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=region,
                        aws_access_key_id="test", aws_secret_access_key="test")


def zone_id(r53, name, vpc=None):
    for z in r53.list_hosted_zones()["HostedZones"]:
        if z["Name"] == name + ".":
            return z["Id"]
    kwargs = {"Name": name, "CallerReference": f"tyk-dr-local-{name}"}
    if vpc:
        kwargs["VPC"] = {"VPCRegion": "us-east-1", "VPCId": vpc}
        kwargs["HostedZoneConfig"] = {"PrivateZone": True, "Comment": "tyk-dr local"}
    return r53.create_hosted_zone(**kwargs)["HostedZone"]["Id"]


def health_check(r53, ref, ip):
    for hc in r53.list_health_checks()["HealthChecks"]:
        if hc["CallerReference"] == ref:
            return hc["Id"]
    return r53.create_health_check(CallerReference=ref, HealthCheckConfig={
        "IPAddress": ip, "Port": 8080, "Type": "HTTP", "ResourcePath": "/ready",
        "RequestInterval": 10, "FailureThreshold": 2})["HealthCheck"]["Id"]


def create_missing(r53, zone, records):
    """Creates records that do not exist yet; never touches existing ones, so re-seeding after a
    failover (a region restart) keeps the flipped CNAME and the epoch."""
    existing = {(r["Name"], r["Type"], r.get("SetIdentifier"))
                for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]}
    missing = [r for r in records
               if (r["Name"].rstrip(".") + ".", r["Type"], r.get("SetIdentifier")) not in existing]
    if missing:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={
            "Changes": [{"Action": "CREATE", "ResourceRecordSet": r} for r in missing]})


def main():
    ec2 = client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:tyk-dr:project", "Values": ["local"]}])["Vpcs"]
    if vpcs:
        vpc = vpcs[0]["VpcId"]
    else:
        vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
        ec2.create_tags(Resources=[vpc], Tags=[{"Key": "tyk-dr:project", "Value": "local"}])
    r53 = client("route53")
    private = zone_id(r53, PRIVATE, vpc)
    public = zone_id(r53, PUBLIC)
    create_missing(r53, private, [
        {"Name": f"redis-{s}.{PRIVATE}", "Type": "A", "TTL": 1,
         "ResourceRecords": [{"Value": f"{net}.10"}]} for s, (_, net) in REGIONS.items()
    ] + [{"Name": f"redis.{PRIVATE}", "Type": "CNAME", "TTL": 1,
          "ResourceRecords": [{"Value": f"redis-a.{PRIVATE}"}]},
         {"Name": f"redis-drill-b.{PRIVATE}", "Type": "A", "TTL": 1,
          "ResourceRecords": [{"Value": f"{REGIONS['b'][1]}.12"}]},
         {"Name": f"redis-drill.{PRIVATE}", "Type": "CNAME", "TTL": 1,
          "ResourceRecords": [{"Value": f"redis-a.{PRIVATE}"}]}])
    records = []
    for name, ref, hosts in [(GLOBAL, "tyk-dr-local", (21, 22, 23)), (SHADOW, "tyk-dr-local-drill", (24,))]:
        for s, (region, net) in REGIONS.items():
            hc = health_check(r53, f"{ref}-{s}", f"{net}.{hosts[0]}")
            records.append({"Name": name, "Type": "A", "TTL": 1, "SetIdentifier": region,
                            "Failover": "PRIMARY" if s == "a" else "SECONDARY", "HealthCheckId": hc,
                            "ResourceRecords": [{"Value": f"{net}.{n}"} for n in hosts]})
        records.append({"Name": f"_tyk-dr-epoch.{name}", "Type": "TXT", "TTL": 1,
                        "ResourceRecords": [{"Value": '"active=us-east-1 epoch=1"'}]})
    create_missing(r53, public, records)
    print(f"route53: {PRIVATE} ({private}), {PUBLIC} ({public})")


if __name__ == "__main__":
    sys.exit(main())
