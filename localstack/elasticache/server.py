#!/usr/bin/env python3
"""A strict ElastiCache control plane for the local stage, in front of moto.

It listens where the AWS emulator used to (127.0.0.1:4566). A request whose SigV4 credential
scope names the service `elasticache` is answered here (Query API, XML in AWS's shape); every other
request is passed through, unchanged, to moto_server on another port.

Replication groups are real redis-server processes on loopback, taken from per-region node pools
(the config file): creating a group wires REPLICAOF inside it, joining a Global Datastore as a
secondary makes its primary replicate from the datastore's primary, FailoverGlobalReplicationGroup
demotes and promotes through real REPLICAOF, DisassociateGlobalReplicationGroup leaves a standalone
primary. Status transitions follow AWS with scaled-down, configurable delays. A reconciler keeps
the servers' replication where the control plane says it is (as AWS manages it), so an old primary
that was unreachable during a failover is demoted when it answers again.

Where AWS refuses a request, this refuses it with AWS's error code (the codes and HTTP statuses are
read from botocore's ElastiCache service model) and each rule cites the AWS page it comes from.
Rules whose error *code* the documentation does not name are marked "code modelled".

Admin endpoints (loopback only, not AWS):
  POST /_elasticache/fault   form region=us-east-1&mode=ok|timeout|5xx
  GET  /_elasticache/state   JSON dump of the control plane
  POST /_elasticache/reset   forget every resource (the redis-servers are left as they are)

Python standard library only (plus boto3 from the stage's venv, optional, for subnet checks).
"""

import argparse
import gzip
import http.client
import http.server
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone
from xml.sax.saxutils import escape

NS = "http://elasticache.amazonaws.com/doc/2015-02-02/"
API = "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/"
UG = "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/"

# Global datastore id prefix per region. Source: "Using global datastores (CLI)",
# https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Redis-Global-Datastores-CLI.html
GLOBAL_PREFIX = {
    "us-east-2": "fpkhr", "us-east-1": "ldgnf", "us-west-1": "virxk", "us-west-2": "sgaui",
    "ca-central-1": "bxodz", "ap-south-1": "erpgt", "ap-northeast-1": "quwsw",
    "ap-northeast-2": "lfqnh", "ap-northeast-3": "nlapn", "ap-southeast-1": "vlqxn",
    "ap-southeast-2": "vbgxd", "eu-central-1": "iudkw", "eu-west-1": "gxeiz",
    "eu-west-2": "okuqm", "eu-west-3": "fgjhi", "sa-east-1": "juxlw", "ap-east-1": "knjmp",
}

DEFAULT_DELAYS = {  # seconds; AWS takes minutes, the stage scales them down
    "create": 1.0, "create_global": 0.5, "associate": 1.0, "failover": 1.5,
    "disassociate": 1.0, "delete": 0.5, "delete_global": 0.5, "modify": 1.0,
}


def now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def log(msg):
    print(f"{now_iso()} elasticache: {msg}", file=sys.stderr, flush=True)


# --- errors ------------------------------------------------------------------------------------

def _error_statuses():
    """HTTP status of each error code, from botocore's ElastiCache model (400 when unknown)."""
    try:
        import botocore
        path = os.path.join(os.path.dirname(botocore.__file__),
                            "data/elasticache/2015-02-02/service-2.json.gz")
        shapes = json.load(gzip.open(path))["shapes"]
        return {s["error"]["code"]: s["error"].get("httpStatusCode", 400)
                for s in shapes.values() if "error" in s}
    except Exception:  # noqa: BLE001 - the table is a refinement
        return {}


ERROR_STATUS = _error_statuses()
ERROR_STATUS.setdefault("ReplicationGroupNotFoundFault", 404)
ERROR_STATUS.setdefault("GlobalReplicationGroupNotFoundFault", 404)


class AwsError(Exception):
    def __init__(self, code, message, status=None, sender=True):
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or ERROR_STATUS.get(code, 400)
        self.sender = sender


def invalid_value(msg):
    return AwsError("InvalidParameterValue", msg)


def invalid_combination(msg):
    return AwsError("InvalidParameterCombination", msg)


# --- data plane: a tiny RESP client -------------------------------------------------------------

class RedisError(Exception):
    pass


def redis_cmd(addr, *args, timeout=2.0):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        f = s.makefile("rb")
        return _read_reply(f)


def _read_reply(f):
    line = f.readline()
    if not line:
        raise RedisError("connection closed")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RedisError(f"bad reply {line!r}")


def redis_info_replication(addr):
    text = redis_cmd(addr, "INFO", "replication")
    return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)


# --- state --------------------------------------------------------------------------------------

class Group:
    def __init__(self, region, gid, nodes, **kw):
        self.region, self.id, self.nodes = region, gid, nodes
        self.description = kw.get("description", "")
        self.status = "creating"
        self.node_type = kw.get("node_type", "cache.r7g.large")
        self.engine = kw.get("engine", "redis")
        self.engine_version = kw.get("engine_version", "7.1")
        self.automatic_failover = kw.get("automatic_failover", False)
        self.multi_az = kw.get("multi_az", False)
        self.snapshot_retention = kw.get("snapshot_retention", 0)
        self.transit_encryption = kw.get("transit_encryption", False)
        self.at_rest_encryption = kw.get("at_rest_encryption", False)
        self.subnet_group = kw.get("subnet_group")
        self.azs = kw.get("azs", [])
        self.port = kw.get("port", 6379)
        self.tags = kw.get("tags", {})
        self.global_id = None  # Global Datastore id, if a member
        self.created = now_iso()
        self.final_snapshot = None


class GlobalDS:
    def __init__(self, gid, description, primary):
        self.id, self.description = gid, description
        self.status = "creating"
        # members: list of dicts: group (Group), role, status (membership)
        self.members = [{"group": primary, "role": "primary", "status": "associating"}]

    def primary(self):
        return next(m for m in self.members if m["role"] == "primary")

    def secondaries(self):
        return [m for m in self.members if m["role"] == "secondary"]

    def member(self, region, gid):
        return next((m for m in self.members
                     if m["group"].region == region and m["group"].id == gid), None)


class Plane:
    def __init__(self, config):
        self.lock = threading.RLock()
        self.account = config.get("account", "123456789012")
        self.delays = dict(DEFAULT_DELAYS, **config.get("delays", {}))
        scale = float(config.get("delay_scale", 1.0))
        self.delays = {k: v * scale for k, v in self.delays.items()}
        self.pools = {r: [list(p) for p in c.get("pools", [])]
                      for r, c in config.get("regions", {}).items()}
        self.validate_subnets = config.get("validate_subnets", True)
        self.moto = config.get("moto")
        self.timeout_hold = float(config.get("timeout_hold", 30.0))
        self.sync_timeout = float(config.get("sync_timeout", 10.0))
        self.faults = {}
        self.stopping = threading.Event()
        self.reconcile_interval = float(config.get("reconcile_interval", 1.0))
        self.reset()
        if self.reconcile_interval > 0:
            threading.Thread(target=self._reconciler, name="reconcile", daemon=True).start()

    def _reconciler(self):
        """Keep the servers where the control plane says they are, as AWS manages replication
        itself: in a settled (`available`) datastore each secondary's node 0 replicates the
        primary's node 0, and inside a settled group the replicas replicate node 0. This is what
        demotes an old primary that was unreachable during a failover once it answers again, so a
        region that comes back never keeps a second writable primary."""
        while not self.stopping.wait(self.reconcile_interval):
            with self.lock:
                wanted = []  # (node, master or None)
                for ds in self.globals.values():
                    if ds.status != "available":
                        continue
                    prim = ds.primary()["group"]
                    for m in ds.secondaries():
                        if m["group"].status == "available" and m["status"] == "associated":
                            wanted.append((m["group"].nodes[0], prim.nodes[0]))
                for g in self.groups.values():
                    if g.status == "available":
                        wanted += [(r, g.nodes[0]) for r in g.nodes[1:]]
                unpause = list(self.pending_unpause)
            for node in unpause:
                try:
                    redis_cmd(node, "CLIENT", "UNPAUSE")
                    with self.lock:
                        self.pending_unpause.discard(node)
                    log(f"reconcile: {node} unpaused")
                except (OSError, RedisError):
                    pass
            for node, master in wanted:
                try:
                    info = redis_info_replication(node)
                    have = f"{info.get('master_host')}:{info.get('master_port')}"
                    if info.get("role") != "slave" or have != master:
                        h, port = master.rsplit(":", 1)
                        redis_cmd(node, "REPLICAOF", h, port)
                        log(f"reconcile: {node} now replicates {master}")
                except (OSError, RedisError):
                    pass  # unreachable: try again next round

    def reset(self):
        with self.lock:
            self.groups = {}          # (region, id) -> Group
            self.globals = {}         # id -> GlobalDS
            self.subnet_groups = {}   # (region, name) -> dict
            self.busy_nodes = set()
            self.pending_unpause = set()  # nodes a CLIENT PAUSE may have reached unanswered

    # -- helpers
    def arn(self, region, kind, name):
        return f"arn:aws:elasticache:{region}:{self.account}:{kind}:{name}"

    def group(self, region, gid):
        g = self.groups.get((region, gid.lower()))
        if g is None:
            # DescribeReplicationGroups / errors: ReplicationGroupNotFoundFault (HTTP 404),
            # API_DescribeReplicationGroups.html
            raise AwsError("ReplicationGroupNotFoundFault",
                           f"ReplicationGroup {gid} not found.")
        return g

    def global_ds(self, gid):
        g = self.globals.get(gid)
        if g is None:
            # GlobalReplicationGroupNotFoundFault: "The Global datastore does not exist" (HTTP 404),
            # API_FailoverGlobalReplicationGroup.html and every Global Datastore call.
            raise AwsError("GlobalReplicationGroupNotFoundFault",
                           f"Global replication group {gid} not found.")
        return g

    def later(self, delay_key, fn, what):
        """Run fn after the configured delay, in its own thread; retried until it succeeds, the
        way AWS keeps an operation `modifying` while a node does not answer."""
        def run():
            if self.stopping.wait(self.delays.get(delay_key, 1.0)):
                return
            attempt = 0
            while not self.stopping.is_set():
                try:
                    fn()
                    return
                except (OSError, RedisError) as e:
                    attempt += 1
                    if attempt == 1 or attempt % 20 == 0:
                        log(f"{what}: data plane not ready ({e}); retrying")
                    self.stopping.wait(0.5)
        threading.Thread(target=run, name=what, daemon=True).start()

    def take_nodes(self, region, n):
        for pool in self.pools.get(region, []):
            if len(pool) >= n and not any(a in self.busy_nodes for a in pool):
                nodes = pool[:n]
                self.busy_nodes.update(pool)
                return pool, nodes
        return None, None

    def release(self, g):
        for pool in self.pools.get(g.region, []):
            if g.nodes and g.nodes[0] in pool:
                self.busy_nodes.difference_update(pool)

    # -- data plane wiring
    def wire_group(self, g, upstream=None):
        """Inside a group, node 0 is the primary and the others replicate from it; node 0
        replicates from `upstream` (the datastore's primary node) when given."""
        p = g.nodes[0]
        if upstream:
            h, port = upstream.rsplit(":", 1)
            redis_cmd(p, "REPLICAOF", h, port)
        else:
            redis_cmd(p, "REPLICAOF", "NO", "ONE")
        h, port = p.rsplit(":", 1)
        for r in g.nodes[1:]:
            redis_cmd(r, "REPLICAOF", h, port)

    def wait_link_up(self, addr, deadline):
        while time.time() < deadline and not self.stopping.is_set():
            info = redis_info_replication(addr)
            if info.get("role") == "slave" and info.get("master_link_status") == "up":
                return
            time.sleep(0.1)
        raise RedisError(f"{addr}: replication link not up")


# --- XML rendering ------------------------------------------------------------------------------

def el(name, value):
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def endpoint_xml(name, addr):
    h, p = addr.rsplit(":", 1)
    return f"<{name}><Address>{escape(h)}</Address><Port>{p}</Port></{name}>"


def group_xml(plane, g):
    member_ids = [f"{g.id}-{i + 1:03d}" for i in range(len(g.nodes))]
    x = ["<ReplicationGroup>", el("ReplicationGroupId", g.id), el("Description", g.description)]
    if g.global_id and g.global_id in plane.globals:
        ds = plane.globals[g.global_id]
        m = ds.member(g.region, g.id)
        if m:
            x.append("<GlobalReplicationGroupInfo>" + el("GlobalReplicationGroupId", ds.id)
                     + el("GlobalReplicationGroupMemberRole", m["role"])
                     + "</GlobalReplicationGroupInfo>")
    x.append(el("Status", g.status))
    x.append("<PendingModifiedValues/>")
    x.append("<MemberClusters>" + "".join(el("ClusterId", c) for c in member_ids)
             + "</MemberClusters>")
    members = []
    for i, (cid, addr) in enumerate(zip(member_ids, g.nodes)):
        az = g.azs[i] if i < len(g.azs) else f"{g.region}{'abc'[i % 3]}"
        members.append("<NodeGroupMember>" + el("CacheClusterId", cid) + el("CacheNodeId", "0001")
                       + endpoint_xml("ReadEndpoint", addr)
                       + el("PreferredAvailabilityZone", az)
                       + el("CurrentRole", "primary" if i == 0 else "replica")
                       + "</NodeGroupMember>")
    reader = g.nodes[1] if len(g.nodes) > 1 else g.nodes[0]
    x.append("<NodeGroups><NodeGroup>" + el("NodeGroupId", "0001")
             + el("Status", "available" if g.status != "creating" else "creating")
             + endpoint_xml("PrimaryEndpoint", g.nodes[0]) + endpoint_xml("ReaderEndpoint", reader)
             + "<NodeGroupMembers>" + "".join(members) + "</NodeGroupMembers>"
             + "</NodeGroup></NodeGroups>")
    x += [el("AutomaticFailover", "enabled" if g.automatic_failover else "disabled"),
          el("MultiAZ", "enabled" if g.multi_az else "disabled"),
          el("SnapshotRetentionLimit", g.snapshot_retention), el("SnapshotWindow", "05:00-06:00"),
          el("ClusterEnabled", False), el("CacheNodeType", g.node_type),
          el("AuthTokenEnabled", False), el("TransitEncryptionEnabled", g.transit_encryption),
          el("AtRestEncryptionEnabled", g.at_rest_encryption),
          el("ARN", plane.arn(g.region, "replicationgroup", g.id)),
          el("ReplicationGroupCreateTime", g.created), el("DataTiering", "disabled"),
          el("AutoMinorVersionUpgrade", True), el("NetworkType", "ipv4"),
          el("IpDiscovery", "ipv4"), el("ClusterMode", "disabled"), el("Engine", g.engine),
          "</ReplicationGroup>"]
    return "".join(x)


def global_xml(plane, ds, show_members=True):
    p = ds.primary()["group"]
    x = ["<GlobalReplicationGroup>", el("GlobalReplicationGroupId", ds.id),
         el("GlobalReplicationGroupDescription", ds.description), el("Status", ds.status),
         el("CacheNodeType", p.node_type), el("Engine", p.engine),
         el("EngineVersion", p.engine_version)]
    if show_members:
        x.append("<Members>")
        for m in ds.members:
            g = m["group"]
            x.append("<GlobalReplicationGroupMember>" + el("ReplicationGroupId", g.id)
                     + el("ReplicationGroupRegion", g.region) + el("Role", m["role"])
                     + el("AutomaticFailover", "enabled" if g.automatic_failover else "disabled")
                     + el("Status", m["status"]) + "</GlobalReplicationGroupMember>")
        x.append("</Members>")
    x += [el("ClusterEnabled", False), el("AuthTokenEnabled", False),
          el("TransitEncryptionEnabled", p.transit_encryption),
          el("AtRestEncryptionEnabled", p.at_rest_encryption),
          el("ARN", f"arn:aws:elasticache::{plane.account}:globalreplicationgroup:{ds.id}"),
          "</GlobalReplicationGroup>"]
    return "".join(x)


def subnet_group_xml(plane, region, sg):
    subnets = "".join(
        "<Subnet>" + el("SubnetIdentifier", s["id"]) + "<SubnetAvailabilityZone>"
        + el("Name", s["az"]) + "</SubnetAvailabilityZone></Subnet>" for s in sg["subnets"])
    return ("<CacheSubnetGroup>" + el("CacheSubnetGroupName", sg["name"])
            + el("CacheSubnetGroupDescription", sg["description"]) + el("VpcId", sg["vpc"])
            + "<Subnets>" + subnets + "</Subnets>"
            + el("ARN", plane.arn(region, "subnetgroup", sg["name"])) + "</CacheSubnetGroup>")


# --- request parameters --------------------------------------------------------------------------

class Params:
    def __init__(self, form):
        self.f = form

    def str(self, name, required=False):
        v = self.f.get(name)
        if required and (v is None or v == ""):
            # Missing required parameter: AWS answers MissingParameter (Common Errors,
            # https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/CommonErrors.html)
            raise AwsError("MissingParameter",
                           f"The request must contain the parameter {name}")
        return v

    def bool(self, name, default=None):
        v = self.f.get(name)
        if v is None:
            return default
        if v.lower() not in ("true", "false"):
            raise invalid_value(f"Invalid boolean value for {name}: {v}")
        return v.lower() == "true"

    def int(self, name, default=None):
        v = self.f.get(name)
        if v is None:
            return default
        try:
            return int(v)
        except ValueError:
            raise invalid_value(f"Invalid integer value for {name}: {v}") from None

    def list(self, prefix):
        """`Prefix.Member.N` (or `Prefix.member.N`) values, in N order."""
        out = {}
        for k, v in self.f.items():
            m = re.fullmatch(re.escape(prefix) + r"\.[A-Za-z]+\.(\d+)", k)
            if m:
                out[int(m.group(1))] = v
        return [out[k] for k in sorted(out)]

    def tags(self):
        keys, vals = {}, {}
        for k, v in self.f.items():
            m = re.fullmatch(r"Tags\.Tag\.(\d+)\.(Key|Value)", k)
            if m:
                (keys if m.group(2) == "Key" else vals)[int(m.group(1))] = v
        return {keys[i]: vals.get(i, "") for i in sorted(keys)}

    def has(self, name):
        return name in self.f


# Identifier rules. Source: CreateReplicationGroup, ReplicationGroupId,
# https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html
# "A name must contain from 1 to 40 alphanumeric characters or hyphens. The first character must
# be a letter. A name cannot end with a hyphen or contain two consecutive hyphens."
def check_identifier(name, what="ReplicationGroupId"):
    if not (1 <= len(name) <= 40 and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", name)
            and not name.endswith("-") and "--" not in name):
        raise invalid_value(
            f"Invalid {what}: {name}. A name must contain from 1 to 40 alphanumeric characters "
            "or hyphens, begin with a letter, and not end with a hyphen or contain two "
            "consecutive hyphens.")


LARGE_OR_ABOVE = re.compile(r"cache\.[a-z0-9]+\.(large|[0-9]*xlarge)$")


# --- operations ----------------------------------------------------------------------------------

class Api:
    def __init__(self, plane):
        self.p = plane

    # ---- cache subnet groups
    def _subnets(self, region, ids):
        if not ids:
            raise AwsError("MissingParameter", "The request must contain the parameter SubnetIds")
        if not self.p.validate_subnets or not self.p.moto:
            return [{"id": s, "az": f"{region}a", "vpc": "vpc-local"} for s in ids]
        # CreateCacheSubnetGroup / ModifyCacheSubnetGroup refuse unknown subnets with InvalidSubnet
        # ("An invalid subnet identifier was specified."), API_CreateCacheSubnetGroup.html.
        # The subnets are looked up in the emulator's EC2 (moto), as AWS looks them up in EC2.
        import boto3
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=self.p.moto,
                           aws_access_key_id="test", aws_secret_access_key="test")
        out = []
        for s in ids:
            try:
                sn = ec2.describe_subnets(SubnetIds=[s])["Subnets"][0]
            except Exception:  # noqa: BLE001 - any failure: not a valid subnet
                raise AwsError("InvalidSubnet", f"The subnet ID {s} does not exist") from None
            out.append({"id": s, "az": sn["AvailabilityZone"], "vpc": sn["VpcId"]})
        if len({s["vpc"] for s in out}) > 1:
            raise AwsError("InvalidSubnet", "Subnets must all belong to the same VPC")
        return out

    def CreateCacheSubnetGroup(self, region, q):
        name = q.str("CacheSubnetGroupName", True).lower()
        desc = q.str("CacheSubnetGroupDescription", True)
        with self.p.lock:
            if (region, name) in self.p.subnet_groups:
                # CacheSubnetGroupAlreadyExists, API_CreateCacheSubnetGroup.html
                raise AwsError("CacheSubnetGroupAlreadyExists",
                               f"Cache subnet group {name} already exists.")
        subnets = self._subnets(region, q.list("SubnetIds"))
        sg = {"name": name, "description": desc, "subnets": subnets, "vpc": subnets[0]["vpc"],
              "tags": q.tags()}
        with self.p.lock:
            self.p.subnet_groups[(region, name)] = sg
            return subnet_group_xml(self.p, region, sg)

    def _subnet_group(self, region, name):
        sg = self.p.subnet_groups.get((region, name.lower()))
        if sg is None:
            # CacheSubnetGroupNotFoundFault, API_DescribeCacheSubnetGroups.html
            raise AwsError("CacheSubnetGroupNotFoundFault",
                           f"Cache subnet group {name} not found.")
        return sg

    def ModifyCacheSubnetGroup(self, region, q):
        name = q.str("CacheSubnetGroupName", True)
        with self.p.lock:
            sg = self._subnet_group(region, name)
        ids = q.list("SubnetIds")
        if ids:
            subnets = self._subnets(region, ids)
            with self.p.lock:
                sg["subnets"], sg["vpc"] = subnets, subnets[0]["vpc"]
        if q.has("CacheSubnetGroupDescription"):
            sg["description"] = q.str("CacheSubnetGroupDescription")
        with self.p.lock:
            return subnet_group_xml(self.p, region, sg)

    def DeleteCacheSubnetGroup(self, region, q):
        name = q.str("CacheSubnetGroupName", True)
        with self.p.lock:
            self._subnet_group(region, name)
            # "You cannot delete a default cache subnet group or one that is associated with any
            # clusters." -> CacheSubnetGroupInUse, API_DeleteCacheSubnetGroup.html
            if any(g.subnet_group == name.lower() for (r, _), g in self.p.groups.items()
                   if r == region):
                raise AwsError("CacheSubnetGroupInUse",
                               f"Cache subnet group {name} is currently in use by a cluster.")
            del self.p.subnet_groups[(region, name.lower())]
        return ""

    def DescribeCacheSubnetGroups(self, region, q):
        name = q.str("CacheSubnetGroupName")
        with self.p.lock:
            if name:
                sgs = [self._subnet_group(region, name)]
            else:
                sgs = [v for (r, _), v in sorted(self.p.subnet_groups.items()) if r == region]
            items, marker = paginate(q, sgs)
            return ("<CacheSubnetGroups>"
                    + "".join(subnet_group_xml(self.p, region, s) for s in items)
                    + "</CacheSubnetGroups>" + el("Marker", marker))

    # ---- tags
    def ListTagsForResource(self, region, q):
        arn = q.str("ResourceName", True)
        m = re.fullmatch(r"arn:aws:elasticache:([a-z0-9-]*):(\d+):([a-z]+):(.+)", arn)
        if not m:
            # InvalidARN: "The requested Amazon Resource Name (ARN) does not refer to an existing
            # resource.", API_ListTagsForResource.html
            raise AwsError("InvalidARN", f"{arn} is not a valid ARN")
        r, _, kind, name = m.groups()
        with self.p.lock:
            if kind == "replicationgroup":
                g = self.p.group(r, name)
                # "If the cluster is not in the available state, ListTagsForResource returns an
                # error." API_ListTagsForResource.html -> InvalidReplicationGroupState
                if g.status not in ("available", "modifying", "snapshotting"):
                    raise AwsError("InvalidReplicationGroupState",
                                   f"Replication group {g.id} is not in available state.")
                tags = g.tags
            elif kind == "subnetgroup":
                tags = self._subnet_group(r, name)["tags"]
            else:
                raise AwsError("InvalidARN", f"{arn}: resource type {kind} is not emulated")
            return ("<TagList>" + "".join(
                f"<Tag>{el('Key', k)}{el('Value', v)}</Tag>" for k, v in sorted(tags.items()))
                + "</TagList>")

    # ---- replication groups
    def CreateReplicationGroup(self, region, q):
        gid = q.str("ReplicationGroupId", True)
        check_identifier(gid)
        gid = gid.lower()  # "This parameter is stored as a lowercase string."
        q.str("ReplicationGroupDescription", True)
        global_id = q.str("GlobalReplicationGroupId")
        n = q.int("NumCacheClusters")
        auto = q.bool("AutomaticFailoverEnabled", False)
        multi_az = q.bool("MultiAZEnabled", False)
        if (q.int("NumNodeGroups", 1) or 1) > 1 or q.str("ClusterMode") == "enabled":
            raise invalid_value("Cluster mode enabled replication groups are not emulated")
        # NumCacheClusters: "If AutomaticFailoverEnabled is true, the value of this parameter must
        # be at least 2 ... The maximum permitted value for NumCacheClusters is 6",
        # API_CreateReplicationGroup.html
        if n is None:
            n = 1 + (q.int("ReplicasPerNodeGroup", 0) or 0)
        if n > 6 or n < 1:
            raise invalid_value("NumCacheClusters must be between 1 and 6.")
        if auto and n < 2:
            raise invalid_combination(
                "Automatic failover requires at least 2 cache clusters (NumCacheClusters >= 2).")
        # Multi-AZ needs a read replica: "Multi-AZ is only supported on Valkey and Redis OSS
        # clusters that have more than one node in each shard", UG "Minimizing downtime in
        # ElastiCache by using Multi-AZ", https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/
        # AutoFailover.html. Code modelled: InvalidParameterCombination.
        if multi_az and n < 2:
            raise invalid_combination("Multi-AZ requires at least one read replica "
                                      "(NumCacheClusters >= 2).")
        azs = q.list("PreferredCacheClusterAZs")
        # PreferredCacheClusterAZs: "The number of Availability Zones listed must equal the value
        # of NumCacheClusters." API_CreateReplicationGroup.html
        if azs and len(azs) != n:
            raise invalid_combination(
                "The number of PreferredCacheClusterAZs must equal NumCacheClusters.")
        subnet_group = q.str("CacheSubnetGroupName")
        with self.p.lock:
            if (region, gid) in self.p.groups:
                # ReplicationGroupAlreadyExists, API_CreateReplicationGroup.html
                raise AwsError("ReplicationGroupAlreadyExists",
                               f"Replication group {gid} already exists.")
            if subnet_group:
                self._subnet_group(region, subnet_group)
                subnet_group = subnet_group.lower()
            kw = dict(description=q.str("ReplicationGroupDescription"), automatic_failover=auto,
                      multi_az=multi_az, snapshot_retention=q.int("SnapshotRetentionLimit", 0),
                      subnet_group=subnet_group, azs=azs, port=q.int("Port", 6379),
                      tags=q.tags())
            ds = None
            if global_id:
                ds = self.p.global_ds(global_id)
                self._check_secondary(region, q, ds)
                prim = ds.primary()["group"]
                # The secondary inherits engine, version, node type and encryption from the
                # primary ("Prerequisites and limitations": all clusters have the same node type
                # and engine version), UG Redis-Global-Datastores-Getting-Started.html
                kw.update(node_type=prim.node_type, engine=prim.engine,
                          engine_version=prim.engine_version,
                          transit_encryption=prim.transit_encryption,
                          at_rest_encryption=prim.at_rest_encryption)
            else:
                engine = q.str("Engine") or "redis"
                if engine not in ("redis", "valkey"):
                    # Engine: "The value must be set to valkey or redis."
                    # API_CreateReplicationGroup.html
                    raise invalid_value(f"Invalid engine {engine}: must be redis or valkey.")
                kw.update(node_type=q.str("CacheNodeType") or "cache.r7g.large", engine=engine,
                          engine_version=q.str("EngineVersion") or "7.1",
                          transit_encryption=q.bool("TransitEncryptionEnabled", False),
                          # AtRestEncryptionEnabled "Default: true when using Valkey, false when
                          # using Redis OSS", API_CreateReplicationGroup.html
                          at_rest_encryption=q.bool("AtRestEncryptionEnabled",
                                                    engine == "valkey"))
            pool, nodes = self.p.take_nodes(region, n)
            if nodes is None:
                # No free redis-servers for the group in this region: AWS's capacity error,
                # InsufficientCacheClusterCapacity, API_CreateReplicationGroup.html
                raise AwsError("InsufficientCacheClusterCapacity",
                               f"Insufficient cache cluster capacity in {region} for {n} nodes "
                               "(no free node pool of the local stage).")
            g = Group(region, gid, nodes, **kw)
            self.p.groups[(region, gid)] = g
            if ds:
                g.global_id = ds.id
                ds.members.append({"group": g, "role": "secondary", "status": "associating"})
                ds.status = "modifying"
            xml = group_xml(self.p, g)

        def finish():
            upstream = None
            if ds:
                with self.p.lock:
                    upstream = ds.primary()["group"].nodes[0]
            self.p.wire_group(g, upstream)
            if upstream:
                self.p.wait_link_up(g.nodes[0], time.time() + self.p.sync_timeout)
            with self.p.lock:
                if self.p.groups.get((region, gid)) is not g:
                    return
                g.status = "available"
                if ds:
                    m = ds.member(region, gid)
                    if m:
                        m["status"] = "associated"
                    ds.status = "available"
            log(f"{region}/{gid}: available on {g.nodes}" + (f" replicating from {upstream}"
                                                              if upstream else ""))
        self.p.later("associate" if ds else "create", finish, f"create {gid}")
        return xml

    def _check_secondary(self, region, q, ds):
        """Rules for CreateReplicationGroup with GlobalReplicationGroupId (a secondary)."""
        # The datastore must accept a new member: InvalidGlobalReplicationGroupState, "The Global
        # datastore is not available or in primary-only state." is listed among
        # CreateReplicationGroup's errors, API_CreateReplicationGroup.html. A datastore that is
        # creating, modifying or deleting takes no new member.
        if ds.status not in ("available", "primary-only"):
            raise AwsError("InvalidGlobalReplicationGroupState",
                           f"Global replication group {ds.id} is not in a valid state "
                           f"({ds.status}) to add a secondary.")
        # "You can set up replication for a primary cluster from one AWS Region to a secondary
        # cluster in up to two other AWS Regions." UG Redis-Global-Datastores-Getting-Started.html
        if any(m["group"].region == region for m in ds.members):
            raise invalid_value(f"Global replication group {ds.id} already has a member in "
                                f"{region}; a secondary must be in another region.")
        if len(ds.secondaries()) >= 2:
            raise invalid_value(f"Global replication group {ds.id} already has two secondary "
                                "clusters (the maximum).")
        # Encryption is a property of the datastore: a secondary inherits it from the primary and
        # the flags cannot be passed with GlobalReplicationGroupId (GlobalReplicationGroup has
        # AtRestEncryptionEnabled/TransitEncryptionEnabled; "You cannot modify the value of
        # AtRestEncryptionEnabled after the replication group is created",
        # API_GlobalReplicationGroup.html; deployments passing them report the create refused,
        # tyk-dr issue 20). Code modelled: InvalidParameterCombination.
        for flag in ("AtRestEncryptionEnabled", "TransitEncryptionEnabled"):
            if q.has(flag):
                raise invalid_combination(
                    f"{flag} cannot be specified when GlobalReplicationGroupId is specified: "
                    "a secondary replication group inherits encryption settings from the "
                    "Global datastore's primary.")
        # "All clusters—primary and secondary—in your global datastore should have the same number
        # of primary nodes, node type, engine version", UG Redis-Global-Datastores-Getting-
        # Started.html. A differing value is refused (code modelled: InvalidParameterCombination).
        prim = ds.primary()["group"]
        for name, have in (("CacheNodeType", prim.node_type),
                           ("EngineVersion", prim.engine_version), ("Engine", prim.engine)):
            v = q.str(name)
            if v is not None and v != have:
                raise invalid_combination(
                    f"{name} {v} differs from the Global datastore's {have}; a secondary "
                    "inherits it from the primary.")
        # "the secondary cluster inherits the Multi-AZ and automatic failover settings from the
        # primary cluster. Automatic failover requires at least 2 nodes", UG
        # Redis-Global-Datastores-Getting-Started.html
        n = q.int("NumCacheClusters", 1)
        if prim.automatic_failover and n < 2:
            raise invalid_combination(
                "The Global datastore's primary has automatic failover enabled: a secondary needs "
                "at least 2 cache clusters (NumCacheClusters >= 2).")

    def DescribeReplicationGroups(self, region, q):
        gid = q.str("ReplicationGroupId")
        with self.p.lock:
            if gid:
                gs = [self.p.group(region, gid)]
            else:
                gs = [g for (r, _), g in sorted(self.p.groups.items()) if r == region]
            items, marker = paginate(q, gs)
            return ("<ReplicationGroups>" + "".join(group_xml(self.p, g) for g in items)
                    + "</ReplicationGroups>" + el("Marker", marker))

    def ModifyReplicationGroup(self, region, q):
        gid = q.str("ReplicationGroupId", True)
        with self.p.lock:
            g = self.p.group(region, gid)
            # InvalidReplicationGroupState: "The requested replication group is not in the
            # available state." API_ModifyReplicationGroup.html
            if g.status != "available":
                raise AwsError("InvalidReplicationGroupState",
                               f"Replication group {g.id} is not in available state "
                               f"({g.status}).")
            node_type = q.str("CacheNodeType")
            engine_version = q.str("EngineVersion")
            if g.global_id:
                # Members of a Global Datastore are scaled and upgraded together: node type and
                # engine version go through ModifyGlobalReplicationGroup ("A valid cache node type
                # that you want to scale this Global datastore to",
                # API_ModifyGlobalReplicationGroup.html; "All clusters ... should have the same
                # ... node type, engine version", UG Redis-Global-Datastores-Getting-Started.html).
                # Code modelled: InvalidParameterCombination.
                for name, v in (("CacheNodeType", node_type), ("EngineVersion", engine_version)):
                    if v is not None:
                        raise invalid_combination(
                            f"Cannot modify {name} of replication group {g.id}: it is a member of "
                            f"Global datastore {g.global_id}. Use ModifyGlobalReplicationGroup.")
                if q.has("AutomaticFailoverEnabled") or q.has("MultiAZEnabled"):
                    raise invalid_combination(
                        f"Automatic failover of replication group {g.id} is set on its Global "
                        "datastore (ModifyGlobalReplicationGroup AutomaticFailoverEnabled).")
            auto = q.bool("AutomaticFailoverEnabled")
            if auto and len(g.nodes) < 2:
                raise invalid_combination("Automatic failover requires at least 2 nodes.")
            if q.has("SnapshotRetentionLimit"):
                g.snapshot_retention = q.int("SnapshotRetentionLimit")
            if q.has("ReplicationGroupDescription"):
                g.description = q.str("ReplicationGroupDescription")
            if auto is not None:
                g.automatic_failover = auto
            if q.has("MultiAZEnabled"):
                g.multi_az = q.bool("MultiAZEnabled")
            slow = (node_type and node_type != g.node_type) or \
                (engine_version and engine_version != g.engine_version)
            if slow and q.bool("ApplyImmediately", False):
                g.status = "modifying"

                def finish():
                    with self.p.lock:
                        g.node_type = node_type or g.node_type
                        g.engine_version = engine_version or g.engine_version
                        g.status = "available"
                self.p.later("modify", finish, f"modify {g.id}")
            return group_xml(self.p, g)

    def DeleteReplicationGroup(self, region, q):
        gid = q.str("ReplicationGroupId", True)
        with self.p.lock:
            g = self.p.group(region, gid)
            if g.status != "available":
                # InvalidReplicationGroupState, API_DeleteReplicationGroup.html
                raise AwsError("InvalidReplicationGroupState",
                               f"Replication group {g.id} is not in available state "
                               f"({g.status}).")
            if g.global_id and g.global_id in self.p.globals:
                # "The primary cluster is never deleted when deleting a Global Datastore. It can
                # only be deleted when it no longer is associated with any Global Datastore."
                # API_DeleteGlobalReplicationGroup.html. A secondary is first removed with
                # DisassociateGlobalReplicationGroup ("Deleting a Global datastore is a two-step
                # process: First, you must DisassociateGlobalReplicationGroup to remove the
                # secondary clusters", same page).
                raise AwsError("InvalidReplicationGroupState",
                               f"Replication group {g.id} is a member of Global datastore "
                               f"{g.global_id} and cannot be deleted; disassociate it (or "
                               "delete the Global datastore) first.")
            if q.bool("RetainPrimaryCluster", False):
                # "If the replication group has only one primary, you can optionally delete only
                # the read replicas" (API_DeleteReplicationGroup.html): not emulated.
                raise invalid_value("RetainPrimaryCluster=true is not emulated by the local stage")
            g.final_snapshot = q.str("FinalSnapshotIdentifier")
            g.status = "deleting"
            xml = group_xml(self.p, g)

        def finish():
            with self.p.lock:
                if self.p.groups.get((region, g.id)) is g:
                    del self.p.groups[(region, g.id)]
                    self.p.release(g)
            log(f"{region}/{g.id}: deleted" + (f" (final snapshot {g.final_snapshot})"
                                               if g.final_snapshot else ""))
        self.p.later("delete", finish, f"delete {g.id}")
        return xml

    # ---- global datastores
    def CreateGlobalReplicationGroup(self, region, q):
        suffix = q.str("GlobalReplicationGroupIdSuffix", True)
        primary_id = q.str("PrimaryReplicationGroupId", True)
        gid = f"{GLOBAL_PREFIX.get(region, 'xxxxx')}-{suffix}"
        with self.p.lock:
            if gid in self.p.globals:
                # GlobalReplicationGroupAlreadyExistsFault, API_CreateGlobalReplicationGroup.html
                raise AwsError("GlobalReplicationGroupAlreadyExistsFault",
                               f"Global replication group {gid} already exists.")
            g = self.p.group(region, primary_id)
            # InvalidReplicationGroupState: "The requested replication group is not in the
            # available state.", API_CreateGlobalReplicationGroup.html
            if g.status != "available":
                raise AwsError("InvalidReplicationGroupState",
                               f"Replication group {g.id} is not in available state.")
            if g.global_id:
                raise AwsError("InvalidReplicationGroupState",
                               f"Replication group {g.id} is already a member of Global "
                               f"datastore {g.global_id}.")
            # "Global datastores are supported on instances of size large and above."
            # UG Redis-Global-Datastores-Getting-Started.html
            if not LARGE_OR_ABOVE.match(g.node_type):
                raise invalid_value(f"Node type {g.node_type} is not supported for Global "
                                    "datastores (size large and above only).")
            ds = GlobalDS(gid, q.str("GlobalReplicationGroupDescription") or "", g)
            self.p.globals[gid] = ds
            g.global_id = gid
            xml = global_xml(self.p, ds)

        def finish():
            with self.p.lock:
                ds.status = "primary-only"
                ds.primary()["status"] = "associated"
        self.p.later("create_global", finish, f"create global {gid}")
        return xml

    def DescribeGlobalReplicationGroups(self, region, q):
        gid = q.str("GlobalReplicationGroupId")
        show = q.bool("ShowMemberInfo", False)
        with self.p.lock:
            dss = [self.p.global_ds(gid)] if gid else \
                [v for _, v in sorted(self.p.globals.items())]
            items, marker = paginate(q, dss)
            return ("<GlobalReplicationGroups>"
                    + "".join(global_xml(self.p, d, show) for d in items)
                    + "</GlobalReplicationGroups>" + el("Marker", marker))

    def FailoverGlobalReplicationGroup(self, region, q):
        gid = q.str("GlobalReplicationGroupId", True)
        target_region = q.str("PrimaryRegion", True)
        target_id = q.str("PrimaryReplicationGroupId", True).lower()
        with self.p.lock:
            ds = self.p.global_ds(gid)
            # InvalidGlobalReplicationGroupState: "The Global datastore is not available or in
            # primary-only state." API_FailoverGlobalReplicationGroup.html
            if ds.status != "available":
                raise AwsError("InvalidGlobalReplicationGroupState",
                               f"Global replication group {gid} is not in available state "
                               f"({ds.status}).")
            m = ds.member(target_region, target_id)
            if m is None:
                if any(x["group"].id == target_id for x in ds.members):
                    # The group is a member, but not in that region: InvalidParameterCombination
                    # ("Two or more incompatible parameters were specified."),
                    # API_FailoverGlobalReplicationGroup.html
                    raise invalid_combination(
                        f"Replication group {target_id} is not in region {target_region}.")
                # InvalidParameterValue ("The value for a parameter is invalid."),
                # API_FailoverGlobalReplicationGroup.html
                raise invalid_value(f"Replication group {target_id} in {target_region} is not a "
                                    f"member of Global replication group {gid}.")
            # "The secondary region will become primary" (same page): the target must be a
            # secondary; naming the current primary is an invalid value.
            if m["role"] != "secondary":
                raise invalid_value(f"Replication group {target_id} is already the primary of "
                                    f"Global replication group {gid}.")
            old = ds.primary()
            new = m
            ds.status = "modifying"
            for x in ds.members:
                x["group"].status = "modifying"
            xml = global_xml(self.p, ds)
        old_g, new_g = old["group"], new["group"]

        def finish():
            self._switch_primary(old_g, new_g)
            with self.p.lock:
                old["role"], new["role"] = "secondary", "primary"
                others = [x for x in ds.members if x is not new]
                new_node = new_g.nodes[0]
            # Other secondaries (a third region) follow the new primary.
            for x in others:
                if x is not old:
                    h, port = new_node.rsplit(":", 1)
                    redis_cmd(x["group"].nodes[0], "REPLICAOF", h, port)
            with self.p.lock:
                for x in ds.members:
                    x["group"].status = "available"
                ds.status = "available"
            log(f"{gid}: failover done, primary {new_g.region}/{new_g.id}")
        self.p.later("failover", finish, f"failover {gid}")
        return xml

    def _switch_primary(self, old_g, new_g):
        """Planned promotion on the real servers: pause writes on the old primary, let the new
        one catch up, promote it, demote the old one to replicate from it, unpause."""
        old_node, new_node = old_g.nodes[0], new_g.nodes[0]
        new_info = redis_info_replication(new_node)  # fail (and retry) while it is down
        paused = True  # also when the PAUSE times out: a stopped server may run it later
        try:
            try:
                redis_cmd(old_node, "CLIENT", "PAUSE", int(self.p.sync_timeout * 1000) + 2000,
                          "WRITE")
                target = int(redis_info_replication(old_node).get("master_repl_offset", 0))
                deadline = time.time() + self.p.sync_timeout
                while time.time() < deadline:
                    new_info = redis_info_replication(new_node)
                    if int(new_info.get("slave_repl_offset", new_info.get(
                            "master_repl_offset", 0))) >= target:
                        break
                    time.sleep(0.05)
            except OSError:
                pass  # the old primary is unreachable: promote what the new one has
            redis_cmd(new_node, "REPLICAOF", "NO", "ONE")
            redis_cmd(new_node, "CLIENT", "UNPAUSE")  # a stale pause from an earlier failover
            h, port = new_node.rsplit(":", 1)
            try:
                redis_cmd(old_node, "REPLICAOF", h, port)
            except OSError:
                log(f"{old_g.region}/{old_g.id}: old primary unreachable, not demoted")
        finally:
            if paused:
                try:
                    redis_cmd(old_node, "CLIENT", "UNPAUSE")
                except (OSError, RedisError):
                    with self.p.lock:  # the reconciler unpauses it once it answers
                        self.p.pending_unpause.add(old_node)

    def DisassociateGlobalReplicationGroup(self, region, q):
        gid = q.str("GlobalReplicationGroupId", True)
        rg_id = q.str("ReplicationGroupId", True).lower()
        rg_region = q.str("ReplicationGroupRegion", True)
        with self.p.lock:
            ds = self.p.global_ds(gid)
            # InvalidGlobalReplicationGroupState, API_DisassociateGlobalReplicationGroup.html: the
            # datastore must not be in the middle of another change.
            if ds.status not in ("available", "primary-only"):
                raise AwsError("InvalidGlobalReplicationGroupState",
                               f"Global replication group {gid} is not in available state "
                               f"({ds.status}).")
            m = ds.member(rg_region, rg_id)
            if m is None:
                raise invalid_value(f"Replication group {rg_id} in {rg_region} is not a member "
                                    f"of Global replication group {gid}.")
            # "Remove a secondary cluster from the Global datastore", "ReplicationGroupId: The
            # name of the secondary cluster you wish to remove",
            # API_DisassociateGlobalReplicationGroup.html: the primary cannot be disassociated
            # (code modelled: InvalidParameterValue).
            if m["role"] != "secondary":
                raise invalid_value(f"Replication group {rg_id} is the primary of Global "
                                    f"replication group {gid}; only a secondary can be "
                                    "disassociated.")
            ds.status = "modifying"
            m["status"] = "disassociating"
            g = m["group"]
            g.status = "modifying"
            xml = global_xml(self.p, ds)

        def finish():
            # Only the secondary's own nodes are touched: this works with the primary region lost.
            self.p.wire_group(g, None)
            with self.p.lock:
                ds.members.remove(m)
                g.global_id = None
                g.status = "available"
                ds.status = "available" if ds.secondaries() else "primary-only"
            log(f"{gid}: {rg_region}/{rg_id} disassociated, standalone primary {g.nodes[0]}")
        self.p.later("disassociate", finish, f"disassociate {rg_id}")
        return xml

    def DeleteGlobalReplicationGroup(self, region, q):
        gid = q.str("GlobalReplicationGroupId", True)
        retain = q.bool("RetainPrimaryReplicationGroup")
        if retain is None:
            # RetainPrimaryReplicationGroup is required, API_DeleteGlobalReplicationGroup.html
            raise AwsError("MissingParameter",
                           "The request must contain the parameter RetainPrimaryReplicationGroup")
        with self.p.lock:
            ds = self.p.global_ds(gid)
            # "First, you must DisassociateGlobalReplicationGroup to remove the secondary clusters
            # in the Global datastore. Once the Global datastore contains only the primary cluster,
            # you can use the DeleteGlobalReplicationGroup API", API_DeleteGlobalReplicationGroup.html
            if ds.secondaries() or ds.status != "primary-only":
                raise AwsError("InvalidGlobalReplicationGroupState",
                               f"Global replication group {gid} must contain only its primary "
                               f"cluster and be primary-only to be deleted ({ds.status}, "
                               f"{len(ds.secondaries())} secondaries).")
            # "The primary cluster is never deleted when deleting a Global Datastore", same page.
            if not retain:
                raise invalid_value("RetainPrimaryReplicationGroup must be true: the primary "
                                    "cluster is never deleted when deleting a Global datastore.")
            ds.status = "deleting"
            xml = global_xml(self.p, ds)

        def finish():
            with self.p.lock:
                for m in ds.members:
                    m["group"].global_id = None
                self.p.globals.pop(gid, None)
        self.p.later("delete_global", finish, f"delete global {gid}")
        return xml

    def ModifyGlobalReplicationGroup(self, region, q):
        gid = q.str("GlobalReplicationGroupId", True)
        apply_now = q.bool("ApplyImmediately")
        # ApplyImmediately is required; "Modifications to Global Replication Groups cannot be
        # requested to be applied in PreferredMaintenceWindow."
        # API_ModifyGlobalReplicationGroup.html
        if apply_now is None:
            raise AwsError("MissingParameter",
                           "The request must contain the parameter ApplyImmediately")
        if not apply_now:
            raise invalid_value("ApplyImmediately must be true: modifications to Global "
                                "Replication Groups cannot be applied in the maintenance window.")
        with self.p.lock:
            ds = self.p.global_ds(gid)
            if ds.status not in ("available", "primary-only"):
                # InvalidGlobalReplicationGroupState, API_ModifyGlobalReplicationGroup.html
                raise AwsError("InvalidGlobalReplicationGroupState",
                               f"Global replication group {gid} is not in available state "
                               f"({ds.status}).")
            node_type = q.str("CacheNodeType")
            engine_version = q.str("EngineVersion")
            if node_type and not LARGE_OR_ABOVE.match(node_type):
                raise invalid_value(f"Node type {node_type} is not supported for Global "
                                    "datastores (size large and above only).")
            if q.has("GlobalReplicationGroupDescription"):
                ds.description = q.str("GlobalReplicationGroupDescription")
            auto = q.bool("AutomaticFailoverEnabled")
            before = ds.status
            if node_type or engine_version or auto is not None:
                ds.status = "modifying"
                for m in ds.members:
                    m["group"].status = "modifying"

                def finish():
                    with self.p.lock:
                        for m in ds.members:
                            g = m["group"]
                            g.node_type = node_type or g.node_type
                            g.engine_version = engine_version or g.engine_version
                            if auto is not None:
                                g.automatic_failover = auto
                            g.status = "available"
                        ds.status = before
                self.p.later("modify", finish, f"modify global {gid}")
            return global_xml(self.p, ds)


def paginate(q, items):
    max_records = q.int("MaxRecords", 100)
    # MaxRecords: "Minimum 20, maximum 100." (DescribeReplicationGroups and friends)
    if not 20 <= max_records <= 100:
        raise invalid_value("MaxRecords must be between 20 and 100.")
    start = int(q.str("Marker") or 0) if (q.str("Marker") or "0").isdigit() else 0
    page = items[start:start + max_records]
    marker = str(start + max_records) if start + max_records < len(items) else None
    return page, marker


def wrap_result(op, inner):
    """`<OpResponse><OpResult>inner</OpResult><ResponseMetadata/>`; DeleteCacheSubnetGroup has no
    result element."""
    rid = str(uuid.uuid4())
    result = "" if op == "DeleteCacheSubnetGroup" else f"<{op}Result>{inner}</{op}Result>"
    return (f'<{op}Response xmlns="{NS}">{result}'
            f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></{op}Response>")


def error_xml(e):
    kind = "Sender" if e.sender else "Receiver"
    return (f'<ErrorResponse xmlns="{NS}"><Error><Type>{kind}</Type><Code>{escape(e.code)}</Code>'
            f"<Message>{escape(e.message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")


SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


# --- HTTP front ---------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tyk-dr-elasticache"
    plane: Plane = None
    api: Api = None
    moto_host: str = "127.0.0.1"
    moto_port: int = 4567

    def log_message(self, fmt, *args):  # quiet: the stage keeps logs short
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body, ctype="text/xml", extra=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _dispatch(self, method):
        body = self._body()
        if self.path.startswith("/_elasticache/"):
            return self._admin(method, body)
        m = SCOPE.search(self.headers.get("Authorization", ""))
        if m and m.group(2) == "elasticache":
            return self._elasticache(m.group(1), body)
        return self._proxy(method, body)

    def _admin(self, method, body):
        path = urllib.parse.urlsplit(self.path).path
        form = dict(urllib.parse.parse_qsl(body.decode()))
        form.update(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        p = self.plane
        if path == "/_elasticache/fault" and method == "POST":
            region, mode = form.get("region", ""), form.get("mode", "")
            if mode not in ("ok", "timeout", "5xx"):
                return self._send(400, "mode must be ok, timeout or 5xx\n", "text/plain")
            with p.lock:
                if mode == "ok":
                    p.faults.pop(region, None)
                else:
                    p.faults[region] = mode
            log(f"control plane of {region}: {mode}")
            return self._send(200, json.dumps(p.faults) + "\n", "application/json")
        if path == "/_elasticache/state":
            with p.lock:
                state = {
                    "faults": p.faults,
                    "groups": [{"region": g.region, "id": g.id, "status": g.status,
                                "nodes": g.nodes, "global": g.global_id,
                                "final_snapshot": g.final_snapshot}
                               for g in p.groups.values()],
                    "globals": [{"id": d.id, "status": d.status,
                                 "members": [{"region": m["group"].region, "id": m["group"].id,
                                              "role": m["role"], "status": m["status"]}
                                             for m in d.members]}
                                for d in p.globals.values()],
                }
            return self._send(200, json.dumps(state, indent=1) + "\n", "application/json")
        if path == "/_elasticache/reset" and method == "POST":
            p.reset()
            with p.lock:
                p.faults.clear()
            return self._send(200, "{}\n", "application/json")
        return self._send(404, "unknown admin endpoint\n", "text/plain")

    def _elasticache(self, region, body):
        fault = self.plane.faults.get(region)
        if fault == "timeout":
            # The control plane hangs: hold the request, then drop the connection unanswered.
            self.plane.stopping.wait(self.plane.timeout_hold)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "5xx":
            e = AwsError("ServiceUnavailable",
                         "The request has failed due to a temporary failure of the server.",
                         status=503, sender=False)
            return self._send(503, error_xml(e))
        form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        op = form.get("Action", "")
        fn = getattr(self.api, op, None) if re.fullmatch(r"[A-Z][A-Za-z]+", op) else None
        if fn is None:
            e = AwsError("InvalidAction", f"The action {op} is not valid for this web service "
                         "(not implemented by the tyk-dr local ElastiCache control plane).")
            return self._send(400, error_xml(e))
        try:
            inner = fn(region, Params(form))
            self._send(200, wrap_result(op, inner))
        except AwsError as e:
            self._send(e.status, error_xml(e))
        except Exception as e:  # noqa: BLE001 - an emulator bug must look like a 500, not hang
            log(f"{op}: internal error: {e!r}")
            self._send(500, error_xml(AwsError("InternalFailure", repr(e), 500, False)))

    def _proxy(self, method, body):
        try:
            conn = http.client.HTTPConnection(self.moto_host, self.moto_port, timeout=120)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("connection", "keep-alive", "transfer-encoding")}
            conn.request(method, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in ("connection", "keep-alive", "transfer-encoding",
                                     "content-length", "server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(data)
            conn.close()
        except OSError as e:
            self._send(502, f"moto_server unreachable: {e}\n", "text/plain")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:4566")
    ap.add_argument("--moto", default="127.0.0.1:4567", help="moto_server host:port")
    ap.add_argument("--config", help="JSON: regions.<region>.pools, delays, delay_scale, ...")
    ap.add_argument("--delay-scale", type=float, help="multiply every delay (overrides config)")
    args = ap.parse_args()
    config = {}
    if args.config:
        with open(args.config) as f:
            config = json.load(f)
    if args.delay_scale is not None:
        config["delay_scale"] = args.delay_scale
    host, port = args.listen.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost") and not host.startswith("127."):
        sys.exit("elasticache: loopback addresses only")
    mhost, mport = args.moto.rsplit(":", 1)
    config.setdefault("moto", f"http://{mhost}:{mport}")
    plane = Plane(config)
    Handler.plane, Handler.api = plane, Api(plane)
    Handler.moto_host, Handler.moto_port = mhost, int(mport)
    srv = Server((host, int(port)), Handler)
    log(f"listening on {args.listen}, other services -> moto {args.moto}; pools "
        + json.dumps(plane.pools))
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        plane.stopping.set()
        srv.server_close()


if __name__ == "__main__":
    import signal

    def _term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    main()
