#!/usr/bin/env python3
"""Self-test of the local ElastiCache control plane (server.py), driven with boto3 exactly as an
AWS client would, against real redis-servers this script starts on loopback.

It starts, each on a free port and stopped by PID at the end: moto_server, the ElastiCache front
(server.py) and six redis-servers (127.20.1.10-.13 for us-east-1, 127.20.2.10-.11 for us-west-2).
Exit status 0 when every check passes; the whole run is bounded (TYK_DR_SELFTEST_TIMEOUT, 240 s).

    /var/tmp/tyk-dr-venv/bin/python localstack/elasticache/selftest.py [-v]
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
from server import redis_cmd, redis_info_replication  # noqa: E402

VENV = os.environ.get("TYK_DR_VENV", "/var/tmp/tyk-dr-venv")
A, B = "us-east-1", "us-west-2"
VERBOSE = "-v" in sys.argv
DEADLINE = float(os.environ.get("TYK_DR_SELFTEST_TIMEOUT", "240"))

PROCS = []  # (name, Popen)
CHECKS = []


def say(msg):
    print(msg, flush=True)


def check(name, cond, detail=""):
    CHECKS.append(name)
    if not cond:
        raise AssertionError(f"FAILED: {name} {detail}")
    if VERBOSE:
        say(f"  ok  {name}")


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start(name, argv, log_dir):
    log = open(os.path.join(log_dir, f"{name}.log"), "wb")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    PROCS.append((name, p))
    return p


def stop_all():
    for _, p in reversed(PROCS):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                p.terminate()
            except ProcessLookupError:
                pass
    for _, p in reversed(PROCS):
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def wait_until(what, fn, timeout=15.0, interval=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling, report the last state
            last = repr(e)
        time.sleep(interval)
    raise AssertionError(f"FAILED: timed out waiting for {what} (last: {last})")


def refused(name, code, fn, status=None):
    try:
        fn()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        http = e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(f"refused: {name} -> {code}", got == code and (status is None or http == status),
              f"(got {got}, HTTP {http}: {e.response['Error'].get('Message')})")
        return
    raise AssertionError(f"FAILED: {name}: expected {code}, the call succeeded")


def main():
    work = tempfile.mkdtemp(prefix="tyk-dr-ec-selftest-")
    try:
        run(work)
        say(f"selftest: {len(CHECKS)} checks passed")
        return 0
    except AssertionError as e:
        say(str(e))
        for name in ("elasticache",):
            path = os.path.join(work, f"{name}.log")
            if os.path.exists(path):
                say(f"--- {name}.log (tail)")
                say(open(path, errors="replace").read()[-4000:])
        return 1
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)


def run(work):
    # ---- processes
    nodes = {A: [f"127.20.1.{i}" for i in (10, 11, 12, 13)], B: ["127.20.2.10", "127.20.2.11"]}
    addr = {}
    for region, ips in nodes.items():
        for ip in ips:
            port = free_port(ip)
            d = os.path.join(work, ip)
            os.makedirs(d)
            start(f"redis-{ip}", ["redis-server", "--bind", ip, "--port", str(port), "--save", "",
                                  "--appendonly", "no", "--dir", d, "--repl-diskless-sync", "yes",
                                  "--repl-diskless-sync-delay", "0"], work)
            addr[ip] = f"{ip}:{port}"
    moto_port, front_port = free_port(), free_port()
    start("moto", [os.path.join(VENV, "bin", "moto_server"), "-H", "127.0.0.1", "-p",
                   str(moto_port)], work)
    a0, a1, a2, a3 = (addr[ip] for ip in nodes[A])
    b0, b1 = (addr[ip] for ip in nodes[B])
    config = {
        "regions": {A: {"pools": [[a0, a1], [a2, a3]]}, B: {"pools": [[b0, b1]]}},
        "delays": {"create": 0.3, "create_global": 0.2, "associate": 0.3, "failover": 0.8,
                   "disassociate": 0.3, "delete": 0.2, "delete_global": 0.2, "modify": 0.3},
        "timeout_hold": 4.0, "sync_timeout": 5.0,
    }
    cfg = os.path.join(work, "elasticache.json")
    with open(cfg, "w") as f:
        json.dump(config, f)
    start("elasticache", [sys.executable, os.path.join(HERE, "server.py"), "--listen",
                          f"127.0.0.1:{front_port}", "--moto", f"127.0.0.1:{moto_port}",
                          "--config", cfg], work)
    endpoint = f"http://127.0.0.1:{front_port}"
    for a in addr.values():
        wait_until(f"redis {a}", lambda a=a: redis_cmd(a, "PING") == "PONG")
    wait_until("moto through the front", lambda: urllib.request.urlopen(
        f"{endpoint}/moto-api/", timeout=1).status == 200, timeout=30)
    say(f"selftest: front {endpoint}, moto :{moto_port}, redis {sorted(addr.values())}")

    def client(service, region, **cfg):
        conf = Config(retries={"total_max_attempts": 1}, connect_timeout=2,
                      read_timeout=cfg.pop("read_timeout", 10), **cfg)
        return boto3.client(service, region_name=region, endpoint_url=endpoint,
                            aws_access_key_id="test", aws_secret_access_key="test", config=conf)

    ea, eb = client("elasticache", A), client("elasticache", B)

    def rg(c, gid):
        return c.describe_replication_groups(ReplicationGroupId=gid)["ReplicationGroups"][0]

    def gds(gid, show=True):
        return ea.describe_global_replication_groups(
            GlobalReplicationGroupId=gid, ShowMemberInfo=show)["GlobalReplicationGroups"][0]

    def roles(gid):
        return {(m["ReplicationGroupRegion"], m["ReplicationGroupId"]): m["Role"]
                for m in gds(gid)["Members"]}

    def info(a):
        return redis_info_replication(a)

    def replica_of(a, master):
        i = info(a)
        return i.get("role") == "slave" and f"{i.get('master_host')}:{i.get('master_port')}" \
            == master and i.get("master_link_status") == "up"

    # ---- passthrough: EC2 goes to moto through the same endpoint
    subnets = {}
    for region, cidr in ((A, "10.1"), (B, "10.2")):
        ec2 = client("ec2", region)
        vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
        subnets[region] = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.{i}.0/24")
                           ["Subnet"]["SubnetId"] for i in (1, 2)]
    check("other services pass through to moto (EC2 VPC/subnets)", all(subnets.values()))

    # ---- cache subnet groups
    for c, region in ((ea, A), (eb, B)):
        out = c.create_cache_subnet_group(CacheSubnetGroupName="tdr-redis",
                                          CacheSubnetGroupDescription="tyk-dr Redis subnets",
                                          SubnetIds=subnets[region],
                                          Tags=[{"Key": "tyk-dr:project", "Value": "tdr"}])
        check(f"CreateCacheSubnetGroup {region}",
              out["CacheSubnetGroup"]["CacheSubnetGroupName"] == "tdr-redis"
              and len(out["CacheSubnetGroup"]["Subnets"]) == 2)
    refused("CreateCacheSubnetGroup twice", "CacheSubnetGroupAlreadyExists",
            lambda: ea.create_cache_subnet_group(CacheSubnetGroupName="tdr-redis",
                                                 CacheSubnetGroupDescription="d",
                                                 SubnetIds=subnets[A]))
    refused("CreateCacheSubnetGroup unknown subnet", "InvalidSubnet",
            lambda: ea.create_cache_subnet_group(CacheSubnetGroupName="bad",
                                                 CacheSubnetGroupDescription="d",
                                                 SubnetIds=["subnet-00000000"]))
    ea.modify_cache_subnet_group(CacheSubnetGroupName="tdr-redis", SubnetIds=subnets[A][:1])
    sgs = ea.describe_cache_subnet_groups()["CacheSubnetGroups"]
    check("ModifyCacheSubnetGroup + DescribeCacheSubnetGroups",
          [s["SubnetIdentifier"] for s in sgs[0]["Subnets"]] == subnets[A][:1])
    ea.modify_cache_subnet_group(CacheSubnetGroupName="tdr-redis", SubnetIds=subnets[A])
    refused("DescribeCacheSubnetGroups unknown", "CacheSubnetGroupNotFoundFault",
            lambda: ea.describe_cache_subnet_groups(CacheSubnetGroupName="nope"))

    # ---- the primary group (us-east-1)
    common = dict(NumCacheClusters=2, AutomaticFailoverEnabled=True, MultiAZEnabled=True,
                  CacheSubnetGroupName="tdr-redis", SecurityGroupIds=["sg-1"], Port=6379,
                  SnapshotRetentionLimit=1, Tags=[{"Key": "tyk-dr:project", "Value": "tdr"}])
    refused("CreateReplicationGroup automatic failover with 1 node", "InvalidParameterCombination",
            lambda: ea.create_replication_group(
                ReplicationGroupId="x1", ReplicationGroupDescription="d", NumCacheClusters=1,
                AutomaticFailoverEnabled=True))
    refused("CreateReplicationGroup Multi-AZ with 1 node", "InvalidParameterCombination",
            lambda: ea.create_replication_group(
                ReplicationGroupId="x1", ReplicationGroupDescription="d", NumCacheClusters=1,
                MultiAZEnabled=True))
    refused("CreateReplicationGroup AZ list longer than NumCacheClusters",
            "InvalidParameterCombination",
            lambda: ea.create_replication_group(
                ReplicationGroupId="x1", ReplicationGroupDescription="d", NumCacheClusters=2,
                PreferredCacheClusterAZs=[f"{A}a", f"{A}b", f"{A}c"]))
    refused("CreateReplicationGroup invalid id", "InvalidParameterValue",
            lambda: ea.create_replication_group(ReplicationGroupId="1-bad--id-",
                                                ReplicationGroupDescription="d"))
    refused("CreateReplicationGroup unknown subnet group", "CacheSubnetGroupNotFoundFault",
            lambda: ea.create_replication_group(ReplicationGroupId="x2",
                                                ReplicationGroupDescription="d",
                                                CacheSubnetGroupName="nope"))
    out = ea.create_replication_group(
        ReplicationGroupId="tdr-active", ReplicationGroupDescription="tyk-dr active",
        Engine="redis", EngineVersion="7.1", CacheNodeType="cache.r7g.large",
        TransitEncryptionEnabled=True, AtRestEncryptionEnabled=True,
        PreferredCacheClusterAZs=[f"{A}a", f"{A}b"], **common)["ReplicationGroup"]
    check("CreateReplicationGroup answers creating", out["Status"] == "creating", out["Status"])
    wait_until("tdr-active available", lambda: rg(ea, "tdr-active")["Status"] == "available")
    g = rg(ea, "tdr-active")
    check("Describe: primary endpoint is the first node",
          g["NodeGroups"][0]["PrimaryEndpoint"]["Address"] == a0.split(":")[0]
          and g["NodeGroups"][0]["PrimaryEndpoint"]["Port"] == int(a0.split(":")[1]))
    check("Describe: two member clusters, automatic failover, no global info",
          len(g["MemberClusters"]) == 2 and g["AutomaticFailover"] == "enabled"
          and "GlobalReplicationGroupInfo" not in g and g["TransitEncryptionEnabled"])
    check("data plane: a0 primary, a1 replicates from it",
          info(a0)["role"] == "master" and wait_until("a1 link", lambda: replica_of(a1, a0)))
    refused("CreateReplicationGroup twice", "ReplicationGroupAlreadyExists",
            lambda: ea.create_replication_group(ReplicationGroupId="tdr-active",
                                                ReplicationGroupDescription="d"))
    refused("DeleteCacheSubnetGroup in use", "CacheSubnetGroupInUse",
            lambda: ea.delete_cache_subnet_group(CacheSubnetGroupName="tdr-redis"))
    tags = ea.list_tags_for_resource(ResourceName=g["ARN"])["TagList"]
    check("ListTagsForResource", tags == [{"Key": "tyk-dr:project", "Value": "tdr"}], tags)
    refused("DescribeReplicationGroups unknown", "ReplicationGroupNotFoundFault",
            lambda: ea.describe_replication_groups(ReplicationGroupId="nope"), status=404)
    redis_cmd(a0, "SET", "before-global", "1")

    # ---- a small group cannot seed a Global Datastore
    ea.create_replication_group(ReplicationGroupId="tdr-small", ReplicationGroupDescription="d",
                                CacheNodeType="cache.t3.micro", NumCacheClusters=1)
    wait_until("tdr-small available", lambda: rg(ea, "tdr-small")["Status"] == "available")
    refused("CreateGlobalReplicationGroup on a t3.micro group", "InvalidParameterValue",
            lambda: ea.create_global_replication_group(GlobalReplicationGroupIdSuffix="small",
                                                       PrimaryReplicationGroupId="tdr-small"))
    ea.delete_replication_group(ReplicationGroupId="tdr-small")
    refused("DeleteReplicationGroup while deleting", "InvalidReplicationGroupState",
            lambda: ea.delete_replication_group(ReplicationGroupId="tdr-small"))
    wait_until("tdr-small gone", lambda: not [
        x for x in ea.describe_replication_groups()["ReplicationGroups"]
        if x["ReplicationGroupId"] == "tdr-small"])
    refused("CreateGlobalReplicationGroup unknown primary", "ReplicationGroupNotFoundFault",
            lambda: ea.create_global_replication_group(GlobalReplicationGroupIdSuffix="x",
                                                       PrimaryReplicationGroupId="nope"))

    # ---- the Global Datastore
    out = ea.create_global_replication_group(
        GlobalReplicationGroupIdSuffix="tdr", PrimaryReplicationGroupId="tdr-active",
        GlobalReplicationGroupDescription="tyk-dr cross-region Redis")["GlobalReplicationGroup"]
    gid = out["GlobalReplicationGroupId"]
    check("CreateGlobalReplicationGroup prefixes the region's id prefix (ldgnf-)",
          gid == "ldgnf-tdr" and out["Status"] == "creating", out)
    refused("CreateGlobalReplicationGroup twice", "GlobalReplicationGroupAlreadyExistsFault",
            lambda: ea.create_global_replication_group(GlobalReplicationGroupIdSuffix="tdr",
                                                       PrimaryReplicationGroupId="tdr-active"))
    wait_until("global primary-only", lambda: gds(gid)["Status"] == "primary-only")
    refused("FailoverGlobalReplicationGroup while primary-only",
            "InvalidGlobalReplicationGroupState",
            lambda: ea.failover_global_replication_group(
                GlobalReplicationGroupId=gid, PrimaryRegion=A,
                PrimaryReplicationGroupId="tdr-active"))
    check("Describe RG: member of the datastore as primary",
          rg(ea, "tdr-active")["GlobalReplicationGroupInfo"]
          == {"GlobalReplicationGroupId": gid, "GlobalReplicationGroupMemberRole": "primary"})
    check("DescribeGlobalReplicationGroups without ShowMemberInfo lists no members",
          "Members" not in gds(gid, show=False))

    # ---- the secondary (us-west-2): strictness first
    sec = dict(ReplicationGroupId="tdr-passive", ReplicationGroupDescription="tyk-dr passive",
               GlobalReplicationGroupId=gid, **common)
    sec["CacheSubnetGroupName"] = "tdr-redis"
    refused("secondary with AtRestEncryptionEnabled", "InvalidParameterCombination",
            lambda: eb.create_replication_group(AtRestEncryptionEnabled=True, **sec))
    refused("secondary with TransitEncryptionEnabled", "InvalidParameterCombination",
            lambda: eb.create_replication_group(TransitEncryptionEnabled=True, **sec))
    refused("secondary with a different CacheNodeType", "InvalidParameterCombination",
            lambda: eb.create_replication_group(CacheNodeType="cache.r7g.xlarge", **sec))
    refused("secondary with 1 node when the primary has automatic failover",
            "InvalidParameterCombination",
            lambda: eb.create_replication_group(**dict(
                sec, NumCacheClusters=1, AutomaticFailoverEnabled=False, MultiAZEnabled=False)))
    refused("secondary in the primary's region", "InvalidParameterValue",
            lambda: ea.create_replication_group(**dict(sec, ReplicationGroupId="tdr-same")))
    refused("secondary of an unknown datastore", "GlobalReplicationGroupNotFoundFault",
            lambda: eb.create_replication_group(**dict(sec, GlobalReplicationGroupId="nope")),
            status=404)
    out = eb.create_replication_group(**sec)["ReplicationGroup"]
    check("secondary create answers creating", out["Status"] == "creating")
    check("datastore modifying while the secondary joins", gds(gid)["Status"] == "modifying")
    refused("FailoverGlobalReplicationGroup while modifying", "InvalidGlobalReplicationGroupState",
            lambda: ea.failover_global_replication_group(
                GlobalReplicationGroupId=gid, PrimaryRegion=B,
                PrimaryReplicationGroupId="tdr-passive"))
    wait_until("global available", lambda: gds(gid)["Status"] == "available")
    g = rg(eb, "tdr-passive")
    check("secondary: available, role secondary, inherits node type and encryption",
          g["Status"] == "available" and g["GlobalReplicationGroupInfo"]
          ["GlobalReplicationGroupMemberRole"] == "secondary"
          and g["CacheNodeType"] == "cache.r7g.large" and g["TransitEncryptionEnabled"]
          and g["AtRestEncryptionEnabled"], g)
    members = gds(gid)["Members"]
    check("DescribeGlobalReplicationGroups ShowMemberInfo: both members, roles, statuses",
          roles(gid) == {(A, "tdr-active"): "primary", (B, "tdr-passive"): "secondary"}
          and all(m["Status"] == "associated" for m in members), members)
    check("data plane: b0 replicates from a0, b1 from b0 (real REPLICAOF)",
          replica_of(b0, a0) and wait_until("b1 link", lambda: replica_of(b1, b0)))
    check("data plane: data written before the secondary joined reached it",
          wait_until("key on b1", lambda: redis_cmd(b1, "GET", "before-global") == "1"))
    redis_cmd(a0, "SET", "k-a", "from-a")
    check("data plane: a write on the primary reaches the secondary",
          wait_until("k-a on b0", lambda: redis_cmd(b0, "GET", "k-a") == "from-a"))

    # ---- rules on members
    refused("ModifyReplicationGroup CacheNodeType on a member", "InvalidParameterCombination",
            lambda: eb.modify_replication_group(ReplicationGroupId="tdr-passive",
                                                CacheNodeType="cache.r7g.xlarge",
                                                ApplyImmediately=True))
    ea.modify_replication_group(ReplicationGroupId="tdr-active", SnapshotRetentionLimit=3,
                                ApplyImmediately=True)
    check("ModifyReplicationGroup snapshot retention on a member is accepted",
          rg(ea, "tdr-active")["SnapshotRetentionLimit"] == 3)
    refused("DeleteReplicationGroup of the datastore's primary", "InvalidReplicationGroupState",
            lambda: ea.delete_replication_group(ReplicationGroupId="tdr-active"))
    refused("DeleteReplicationGroup of a secondary still associated",
            "InvalidReplicationGroupState",
            lambda: eb.delete_replication_group(ReplicationGroupId="tdr-passive"))
    refused("DeleteGlobalReplicationGroup with a secondary", "InvalidGlobalReplicationGroupState",
            lambda: ea.delete_global_replication_group(GlobalReplicationGroupId=gid,
                                                       RetainPrimaryReplicationGroup=True))
    refused("DisassociateGlobalReplicationGroup of the primary", "InvalidParameterValue",
            lambda: ea.disassociate_global_replication_group(
                GlobalReplicationGroupId=gid, ReplicationGroupId="tdr-active",
                ReplicationGroupRegion=A))
    refused("FailoverGlobalReplicationGroup to the current primary", "InvalidParameterValue",
            lambda: ea.failover_global_replication_group(
                GlobalReplicationGroupId=gid, PrimaryRegion=A,
                PrimaryReplicationGroupId="tdr-active"))
    refused("FailoverGlobalReplicationGroup with the wrong region", "InvalidParameterCombination",
            lambda: ea.failover_global_replication_group(
                GlobalReplicationGroupId=gid, PrimaryRegion=A,
                PrimaryReplicationGroupId="tdr-passive"))
    refused("FailoverGlobalReplicationGroup unknown datastore",
            "GlobalReplicationGroupNotFoundFault",
            lambda: ea.failover_global_replication_group(
                GlobalReplicationGroupId="ldgnf-nope", PrimaryRegion=B,
                PrimaryReplicationGroupId="tdr-passive"), status=404)
    refused("ModifyGlobalReplicationGroup ApplyImmediately=false", "InvalidParameterValue",
            lambda: ea.modify_global_replication_group(GlobalReplicationGroupId=gid,
                                                       ApplyImmediately=False,
                                                       CacheNodeType="cache.r7g.xlarge"))

    # ---- planned failover to us-west-2
    def failover(to_region, to_id, new_node, old_node):
        out = eb.failover_global_replication_group(
            GlobalReplicationGroupId=gid, PrimaryRegion=to_region,
            PrimaryReplicationGroupId=to_id)["GlobalReplicationGroup"]
        check(f"failover to {to_region}: answers modifying", out["Status"] == "modifying")
        check(f"failover to {to_region}: member groups modifying",
              rg(ea, "tdr-active")["Status"] == "modifying"
              and rg(eb, "tdr-passive")["Status"] == "modifying")
        wait_until(f"failover to {to_region} done", lambda: gds(gid)["Status"] == "available")
        check(f"failover to {to_region}: groups available again",
              rg(ea, "tdr-active")["Status"] == "available"
              and rg(eb, "tdr-passive")["Status"] == "available")
        check(f"failover to {to_region}: roles in Describe",
              roles(gid)[(to_region, to_id)] == "primary"
              and list(roles(gid).values()).count("primary") == 1, roles(gid))
        check(f"failover to {to_region}: roles in RG GlobalReplicationGroupInfo",
              rg(ea if to_region == A else eb, to_id)["GlobalReplicationGroupInfo"]
              ["GlobalReplicationGroupMemberRole"] == "primary")
        check(f"failover to {to_region}: real INFO roles (new primary master, old replicates it)",
              info(new_node)["role"] == "master"
              and wait_until("old primary link", lambda: replica_of(old_node, new_node)))
        key = f"after-failover-{to_region}"
        redis_cmd(new_node, "SET", key, "1")
        check(f"failover to {to_region}: writes on the new primary reach the old region",
              wait_until("replicated", lambda: redis_cmd(old_node, "GET", key) == "1"))
        try:
            redis_cmd(old_node, "SET", "split", "1")
            check(f"failover to {to_region}: the old primary refuses writes", False)
        except Exception as e:  # noqa: BLE001
            check(f"failover to {to_region}: the old primary refuses writes (READONLY)",
                  "READONLY" in str(e), repr(e))

    failover(B, "tdr-passive", b0, a0)
    check("after failover: the other replicas follow (a1 from a0, b1 from b0)",
          replica_of(a1, a0) and replica_of(b1, b0))
    check("after failover: data from before is on the new primary",
          redis_cmd(b0, "GET", "k-a") == "from-a")
    failover(A, "tdr-active", a0, b0)  # failback

    # ---- ModifyGlobalReplicationGroup scales every member
    out = ea.modify_global_replication_group(GlobalReplicationGroupId=gid, ApplyImmediately=True,
                                             CacheNodeType="cache.r7g.xlarge")
    check("ModifyGlobalReplicationGroup answers modifying",
          out["GlobalReplicationGroup"]["Status"] == "modifying")
    wait_until("global available after modify", lambda: gds(gid)["Status"] == "available")
    check("ModifyGlobalReplicationGroup: both members have the new node type",
          rg(ea, "tdr-active")["CacheNodeType"] == "cache.r7g.xlarge"
          and rg(eb, "tdr-passive")["CacheNodeType"] == "cache.r7g.xlarge")

    # ---- fault switch: control plane down, data plane up
    def fault(region, mode):
        data = f"region={region}&mode={mode}".encode()
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_elasticache/fault",
                                                      data=data), timeout=2).read()

    fault(B, "timeout")
    eb_short = client("elasticache", B, read_timeout=1)
    t0 = time.time()
    try:
        eb_short.describe_replication_groups()
        check("fault timeout: us-west-2 API times out", False)
    except (ReadTimeoutError, ConnectTimeoutError):
        check("fault timeout: us-west-2 API times out", time.time() - t0 < 3)
    check("fault timeout: us-east-1 API still answers",
          rg(ea, "tdr-active")["Status"] == "available")
    redis_cmd(a0, "SET", "during-timeout", "1")
    check("fault timeout: us-west-2 data plane still replicates",
          wait_until("replicated", lambda: redis_cmd(b0, "GET", "during-timeout") == "1"))
    fault(B, "5xx")
    try:
        eb.describe_replication_groups()
        check("fault 5xx: us-west-2 answers 503", False)
    except ClientError as e:
        check("fault 5xx: us-west-2 answers 503 ServiceUnavailable",
              e.response["ResponseMetadata"]["HTTPStatusCode"] == 503
              and e.response["Error"]["Code"] == "ServiceUnavailable", e.response)
    check("fault 5xx: us-west-2 data plane answers", redis_cmd(b0, "PING") == "PONG")
    fault(B, "ok")
    check("fault ok: us-west-2 API answers again", rg(eb, "tdr-passive")["Status"] == "available")

    # ---- the reverse: us-west-2 nodes stopped, its API up
    b_pids = [p.pid for n, p in PROCS if n.startswith("redis-127.20.2.")]
    for pid in b_pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        check("nodes stopped: us-west-2 API still answers available",
              rg(eb, "tdr-passive")["Status"] == "available")
        eb.failover_global_replication_group(GlobalReplicationGroupId=gid, PrimaryRegion=B,
                                             PrimaryReplicationGroupId="tdr-passive")
        time.sleep(3.0)
        check("nodes stopped: a failover toward them stays modifying",
              gds(gid)["Status"] == "modifying" and info(a0)["role"] == "master")
    finally:
        for pid in b_pids:
            os.kill(pid, signal.SIGCONT)
    wait_until("failover completes once the nodes answer",
               lambda: gds(gid)["Status"] == "available", timeout=20)
    check("nodes back: failover completed on the real servers",
          info(b0)["role"] == "master" and wait_until("a0 link", lambda: replica_of(a0, b0)))
    failover(A, "tdr-active", a0, b0)  # failback again

    # ---- the old primary's servers unreachable during a planned failover: the failover completes
    # on what the new primary has, and the old primary is demoted as soon as it answers again
    a_pids = [p.pid for n, p in PROCS if n in (f"redis-{nodes[A][0]}", f"redis-{nodes[A][1]}")]
    for pid in a_pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        eb.failover_global_replication_group(GlobalReplicationGroupId=gid, PrimaryRegion=B,
                                             PrimaryReplicationGroupId="tdr-passive")
        wait_until("failover with the old primary stopped",
                   lambda: gds(gid)["Status"] == "available", timeout=30)
        check("old primary stopped: b0 promoted", info(b0)["role"] == "master")
    finally:
        for pid in a_pids:
            os.kill(pid, signal.SIGCONT)
    check("old primary back: demoted to replicate the new primary (no second writable primary)",
          wait_until("a0 demoted", lambda: replica_of(a0, b0), timeout=20))
    failover(A, "tdr-active", a0, b0)  # and back

    # ---- regional loss path: disassociate the secondary, standalone primary
    out = eb.disassociate_global_replication_group(GlobalReplicationGroupId=gid,
                                                   ReplicationGroupId="tdr-passive",
                                                   ReplicationGroupRegion=B)
    check("Disassociate answers modifying", out["GlobalReplicationGroup"]["Status"] == "modifying")
    wait_until("primary-only", lambda: gds(gid)["Status"] == "primary-only")
    g = rg(eb, "tdr-passive")
    check("Disassociate: the group is standalone (no GlobalReplicationGroupInfo), available",
          "GlobalReplicationGroupInfo" not in g and g["Status"] == "available", g)
    check("Disassociate: the datastore keeps only its primary",
          roles(gid) == {(A, "tdr-active"): "primary"})
    check("Disassociate: b0 is a real standalone primary, b1 still replicates it",
          info(b0)["role"] == "master" and replica_of(b1, b0))
    redis_cmd(b0, "SET", "after-detach", "b")
    time.sleep(0.3)
    check("Disassociate: writes on b0 stay in us-west-2",
          redis_cmd(a0, "GET", "after-detach") is None)
    refused("DeleteGlobalReplicationGroup RetainPrimaryReplicationGroup=false",
            "InvalidParameterValue",
            lambda: ea.delete_global_replication_group(GlobalReplicationGroupId=gid,
                                                       RetainPrimaryReplicationGroup=False))
    eb.delete_replication_group(ReplicationGroupId="tdr-passive",
                                FinalSnapshotIdentifier="tdr-passive-final")
    ea.delete_global_replication_group(GlobalReplicationGroupId=gid,
                                       RetainPrimaryReplicationGroup=True)
    wait_until("datastore gone", lambda: not ea.describe_global_replication_groups()
               ["GlobalReplicationGroups"])
    refused("DescribeGlobalReplicationGroups of a deleted datastore",
            "GlobalReplicationGroupNotFoundFault",
            lambda: ea.describe_global_replication_groups(GlobalReplicationGroupId=gid))
    check("DeleteGlobalReplicationGroup keeps the primary as a standalone group",
          "GlobalReplicationGroupInfo" not in rg(ea, "tdr-active"))
    wait_until("secondary deleted", lambda: not eb.describe_replication_groups()
               ["ReplicationGroups"])
    ea.delete_replication_group(ReplicationGroupId="tdr-active")
    wait_until("primary deleted", lambda: not ea.describe_replication_groups()
               ["ReplicationGroups"])
    ea.delete_cache_subnet_group(CacheSubnetGroupName="tdr-redis")
    check("DeleteCacheSubnetGroup once unused", not ea.describe_cache_subnet_groups()
          ["CacheSubnetGroups"])
    try:
        ea.describe_cache_clusters()
        check("an ElastiCache action that is not emulated is refused", False)
    except ClientError as e:
        check("an ElastiCache action that is not emulated is refused (InvalidAction)",
              e.response["Error"]["Code"] == "InvalidAction")


if __name__ == "__main__":
    def _timeout(*_):
        raise AssertionError(f"FAILED: self-test exceeded {DEADLINE:.0f} s")

    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(int(DEADLINE))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
