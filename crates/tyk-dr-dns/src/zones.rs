//! The in-memory zone table and the answer logic (routing policies, CNAME chains, aliases,
//! wildcards, negative answers).
//!
//! Kept free of I/O so the Route 53 semantics can be unit-tested; the refresher builds a new
//! [`ZoneTable`] from each poll and swaps it in atomically.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tracing::{debug, warn};
use tyk_dr_aws::route53::{Failover, RecordSet, Zone};

/// Longest CNAME / alias chain followed before giving up (loops are also detected).
pub const MAX_CHAIN: usize = 8;

/// At most this many records are answered for multivalue routing, as Route 53 does.
const MULTIVALUE_MAX: usize = 8;

/// Which zone answers when a private and a public zone have the same apex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Prefer {
    /// Private zones win (what Route 53 Resolver does inside an associated VPC).
    #[default]
    Private,
    /// Public zones win.
    Public,
}

/// Health oracle used while answering: `true` when the health check id is healthy.
pub trait Health {
    /// Current status of a health check; unknown ids count as healthy.
    fn healthy(&self, id: &str) -> bool;
}

impl<F: Fn(&str) -> bool> Health for F {
    fn healthy(&self, id: &str) -> bool {
        self(id)
    }
}

/// One record set ready to be answered: routing fields plus parsed record data.
#[derive(Debug, Clone)]
struct Candidate {
    set: RecordSet,
    ttl: u32,
    rdata: Vec<RData>,
}

/// All record sets of one (name, type), each a candidate under its routing policy.
#[derive(Debug, Clone, Default)]
struct RrGroup {
    candidates: Vec<Candidate>,
}

/// A hosted zone as served.
#[derive(Debug, Clone)]
pub struct ServedZone {
    /// The zone as listed by Route 53.
    pub zone: Zone,
    soa: Record,
    negative_ttl: u32,
    names: HashMap<String, BTreeMap<RecordType, RrGroup>>,
    /// Names with no records of their own but records below (empty non-terminals).
    empty_non_terminals: HashSet<String>,
}

/// What one lookup in one zone found.
enum Found {
    Records(Vec<Record>),
    Cname(Box<Record>, String),
    NoData,
    NxDomain,
}

/// The complete answer to a query.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Response code (NoError, NXDomain, Refused).
    pub rcode: ResponseCode,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section (the zone's SOA on negative answers).
    pub authority: Vec<Record>,
}

impl Answer {
    fn refused() -> Self {
        Answer {
            rcode: ResponseCode::Refused,
            answers: Vec::new(),
            authority: Vec::new(),
        }
    }
}

/// Every served zone; immutable once built, replaced wholesale on refresh.
#[derive(Debug, Clone, Default)]
pub struct ZoneTable {
    zones: Vec<ServedZone>,
    prefer: Prefer,
}

impl ZoneTable {
    /// Builds a table from zones and their record sets.
    ///
    /// `max_negative_ttl` caps the SOA TTL/minimum used for negative answers so clients of the
    /// local environment do not cache NXDOMAIN for Route 53's 15 minutes.
    pub fn build(
        zones: Vec<(Zone, Vec<RecordSet>)>,
        prefer: Prefer,
        max_negative_ttl: Duration,
    ) -> Self {
        let cap = u32::try_from(max_negative_ttl.as_secs()).unwrap_or(u32::MAX);
        let mut served: Vec<ServedZone> = zones
            .into_iter()
            .map(|(zone, records)| ServedZone::build(zone, records, cap))
            .collect();
        // Deterministic choice between zones with the same apex: preferred kind first, then id.
        served.sort_by(|a, b| {
            let rank = |z: &ServedZone| match prefer {
                Prefer::Private => !z.zone.private,
                Prefer::Public => z.zone.private,
            };
            (rank(a), &a.zone.id).cmp(&(rank(b), &b.zone.id))
        });
        ZoneTable {
            zones: served,
            prefer,
        }
    }

    /// The served zones, preferred ones first.
    pub fn zones(&self) -> &[ServedZone] {
        &self.zones
    }

    /// The most specific zone containing `name` (normalised); ties go to the preferred kind.
    fn zone_for(&self, name: &str) -> Option<&ServedZone> {
        let mut best: Option<&ServedZone> = None;
        for z in &self.zones {
            if in_zone(name, &z.zone.name)
                && best.is_none_or(|b| z.zone.name.len() > b.zone.name.len())
            {
                best = Some(z);
            }
        }
        best
    }

    /// Answers a query the way Route 53 would.
    pub fn answer(&self, qname: &Name, qtype: RecordType, health: &dyn Health) -> Answer {
        let first = normalize(qname);
        let Some(zone) = self.zone_for(&first) else {
            return Answer::refused();
        };
        let mut answers = Vec::new();
        let mut visited = HashSet::new();
        let mut name = first;
        let mut owner = qname.clone();
        let mut current = zone;
        for hop in 0..=MAX_CHAIN {
            if hop > 0 {
                match self.zone_for(&name) {
                    Some(z) => current = z,
                    // The chain leaves our zones: the client resolves the rest.
                    None => break,
                }
            }
            match current.lookup(self, &name, &owner, qtype, health, 0) {
                Found::Records(records) => {
                    answers.extend(records);
                    break;
                }
                Found::Cname(record, target) => {
                    answers.push(*record);
                    if qtype == RecordType::CNAME || !visited.insert(name.clone()) {
                        break;
                    }
                    if visited.contains(&target) {
                        debug!(%target, "CNAME loop");
                        break;
                    }
                    owner = match Name::from_ascii(&target) {
                        Ok(n) => n,
                        Err(_) => break,
                    };
                    name = target;
                }
                Found::NoData => {
                    return Answer {
                        rcode: ResponseCode::NoError,
                        answers,
                        authority: vec![current.negative_soa()],
                    }
                }
                Found::NxDomain => {
                    return Answer {
                        rcode: ResponseCode::NXDomain,
                        answers,
                        authority: vec![current.negative_soa()],
                    }
                }
            }
        }
        Answer {
            rcode: ResponseCode::NoError,
            answers,
            authority: Vec::new(),
        }
    }

    /// Records of one (name, type) after routing, following aliases; used for alias targets.
    fn rrset(
        &self,
        name: &str,
        qtype: RecordType,
        health: &dyn Health,
        depth: usize,
    ) -> Vec<RData> {
        if depth > MAX_CHAIN {
            return Vec::new();
        }
        let Some(zone) = self.zone_for(name) else {
            return Vec::new();
        };
        let Some(group) = zone.names.get(name).and_then(|g| g.get(&qtype)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let ok = |c: &Candidate| self.candidate_ok(c, qtype, health, depth);
        for c in select(&group.candidates, &ok) {
            match &c.set.alias_target {
                Some(a) => out.extend(self.rrset(&a.dns_name, qtype, health, depth + 1)),
                None => out.extend(c.rdata.iter().cloned()),
            }
        }
        out
    }

    /// TTL of an alias target's records (Route 53 answers aliases with the target's TTL).
    fn rrset_ttl(&self, name: &str, qtype: RecordType, health: &dyn Health) -> u32 {
        self.zone_for(name)
            .and_then(|z| z.names.get(name))
            .and_then(|g| g.get(&qtype))
            .and_then(|g| {
                let ok = |c: &Candidate| self.candidate_ok(c, qtype, health, 0);
                select(&g.candidates, &ok).first().map(|c| c.ttl)
            })
            .unwrap_or(60)
    }

    /// Whether a record set may be answered: its own health check (if any) is healthy and, for
    /// an alias with EvaluateTargetHealth, its target has at least one answerable record set.
    fn candidate_ok(
        &self,
        c: &Candidate,
        qtype: RecordType,
        health: &dyn Health,
        depth: usize,
    ) -> bool {
        if let Some(id) = &c.set.health_check_id {
            if !health.healthy(id) {
                return false;
            }
        }
        match &c.set.alias_target {
            Some(a) if a.evaluate_target_health && depth < MAX_CHAIN => {
                let Some(groups) = self
                    .zone_for(&a.dns_name)
                    .and_then(|z| z.names.get(&a.dns_name))
                else {
                    // A target outside our zones (ELB, CloudFront...) cannot be evaluated here.
                    return self.zone_for(&a.dns_name).is_none();
                };
                groups
                    .get(&qtype)
                    .or_else(|| groups.get(&RecordType::CNAME))
                    .is_some_and(|g| {
                        g.candidates
                            .iter()
                            .any(|t| self.candidate_ok(t, qtype, health, depth + 1))
                    })
            }
            _ => true,
        }
    }

    /// The preference this table was built with.
    pub fn prefer(&self) -> Prefer {
        self.prefer
    }
}

impl ServedZone {
    fn build(zone: Zone, records: Vec<RecordSet>, negative_cap: u32) -> Self {
        let mut names: HashMap<String, BTreeMap<RecordType, RrGroup>> = HashMap::new();
        let mut soa = None;
        for set in records {
            if !in_zone(&set.name, &zone.name) {
                continue;
            }
            let Ok(rtype) = RecordType::from_str(&set.rtype) else {
                debug!(name = %set.name, rtype = %set.rtype, "skipping unknown record type");
                continue;
            };
            let rdata: Vec<RData> = set
                .values
                .iter()
                .filter_map(|v| match parse_rdata(rtype, v) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        if rtype != RecordType::SOA {
                            warn!(name = %set.name, rtype = %set.rtype, value = %v, error = %e, "skipping record value");
                        }
                        None
                    }
                })
                .collect();
            if rtype == RecordType::SOA {
                soa = Some((set.ttl.unwrap_or(900), rdata.into_iter().next()));
                continue;
            }
            let ttl = set.ttl.unwrap_or(60);
            names
                .entry(set.name.clone())
                .or_default()
                .entry(rtype)
                .or_default()
                .candidates
                .push(Candidate { set, ttl, rdata });
        }
        let mut empty_non_terminals = HashSet::new();
        for name in names.keys() {
            let mut rest = name.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                if parent.len() <= zone.name.len() || parent.is_empty() {
                    break;
                }
                if !names.contains_key(parent) {
                    empty_non_terminals.insert(parent.to_owned());
                }
                rest = parent;
            }
        }
        let origin = Name::from_ascii(&zone.name).unwrap_or_else(|_| Name::root());
        let (soa_ttl, soa_rdata) = soa.unwrap_or((900, None));
        let soa_rdata = match soa_rdata {
            Some(RData::SOA(s)) => s,
            // No SOA, or one we cannot read: synthesise Route 53's default.
            _ => SOA::new(
                Name::from_ascii("ns-2048.awsdns-64.com.").unwrap_or_else(|_| Name::root()),
                Name::from_ascii("awsdns-hostmaster.amazon.com.").unwrap_or_else(|_| Name::root()),
                1,
                7200,
                900,
                1_209_600,
                86_400,
            ),
        };
        let negative_ttl = soa_ttl.min(soa_rdata.minimum()).min(negative_cap);
        let soa_rdata = SOA::new(
            soa_rdata.mname().clone(),
            soa_rdata.rname().clone(),
            soa_rdata.serial(),
            soa_rdata.refresh(),
            soa_rdata.retry(),
            soa_rdata.expire(),
            soa_rdata.minimum().min(negative_cap),
        );
        let soa = Record::from_rdata(origin, soa_ttl.min(negative_cap), RData::SOA(soa_rdata));
        ServedZone {
            zone,
            soa,
            negative_ttl,
            names,
            empty_non_terminals,
        }
    }

    /// Number of distinct names with records.
    pub fn name_count(&self) -> usize {
        self.names.len()
    }

    fn negative_soa(&self) -> Record {
        let mut soa = self.soa.clone();
        soa.set_ttl(self.negative_ttl);
        soa
    }

    /// Finds the record groups for `name`: exact, else the closest wildcard.
    fn groups(&self, name: &str) -> Option<&BTreeMap<RecordType, RrGroup>> {
        if let Some(g) = self.names.get(name) {
            return Some(g);
        }
        if self.empty_non_terminals.contains(name) {
            return None;
        }
        let mut rest = name;
        while let Some((_, parent)) = rest.split_once('.') {
            if parent.len() < self.zone.name.len() || parent.is_empty() {
                break;
            }
            if let Some(g) = self.names.get(&format!("*.{parent}")) {
                return Some(g);
            }
            // A name that exists stops the wildcard search (closest encloser).
            if self.names.contains_key(parent) || self.empty_non_terminals.contains(parent) {
                break;
            }
            rest = parent;
        }
        None
    }

    fn lookup(
        &self,
        table: &ZoneTable,
        name: &str,
        owner: &Name,
        qtype: RecordType,
        health: &dyn Health,
        depth: usize,
    ) -> Found {
        let Some(groups) = self.groups(name) else {
            return if self.empty_non_terminals.contains(name) || name == self.zone.name {
                if qtype == RecordType::SOA && name == self.zone.name {
                    return Found::Records(vec![self.soa.clone()]);
                }
                Found::NoData
            } else {
                Found::NxDomain
            };
        };
        if qtype != RecordType::CNAME {
            if let Some(group) = groups.get(&RecordType::CNAME) {
                let ok = |c: &Candidate| table.candidate_ok(c, RecordType::CNAME, health, depth);
                let chosen = select(&group.candidates, &ok);
                if let Some(c) = chosen.first() {
                    let (rdata, ttl) = match &c.set.alias_target {
                        Some(a) => (
                            table.rrset(&a.dns_name, RecordType::CNAME, health, depth + 1),
                            table.rrset_ttl(&a.dns_name, RecordType::CNAME, health),
                        ),
                        None => (c.rdata.clone(), c.ttl),
                    };
                    if let Some(RData::CNAME(target)) = rdata.into_iter().next() {
                        let target_s = normalize(&target.0);
                        let record =
                            Record::from_rdata(owner.clone(), ttl, RData::CNAME(target.clone()));
                        return Found::Cname(Box::new(record), target_s);
                    }
                }
            }
        }
        if qtype == RecordType::SOA && name == self.zone.name {
            return Found::Records(vec![self.soa.clone()]);
        }
        let Some(group) = groups.get(&qtype) else {
            return Found::NoData;
        };
        let mut records = Vec::new();
        let ok = |c: &Candidate| table.candidate_ok(c, qtype, health, depth);
        for c in select(&group.candidates, &ok) {
            match &c.set.alias_target {
                Some(a) => {
                    let ttl = table.rrset_ttl(&a.dns_name, qtype, health);
                    for rd in table.rrset(&a.dns_name, qtype, health, depth + 1) {
                        records.push(Record::from_rdata(owner.clone(), ttl, rd));
                    }
                }
                None => {
                    for rd in &c.rdata {
                        records.push(Record::from_rdata(owner.clone(), c.ttl, rd.clone()));
                    }
                }
            }
        }
        if records.is_empty() {
            Found::NoData
        } else {
            Found::Records(records)
        }
    }
}

/// Chooses which record sets of one (name, type) are answered, as Route 53 does.
///
/// - failover: PRIMARY while its health check is healthy (or it has none); SECONDARY when the
///   primary is unhealthy and the secondary is healthy; PRIMARY again if both are unhealthy.
/// - weighted: only healthy sets (all if none is healthy); the highest weight wins, ties go to
///   the smallest set identifier (deterministic instead of Route 53's random draw).
/// - multivalue: every healthy set (all if none), at most eight.
/// - other policies (latency, geo...): the first healthy set by set identifier.
fn select<'a>(candidates: &'a [Candidate], ok: &dyn Fn(&Candidate) -> bool) -> Vec<&'a Candidate> {
    if candidates.len() == 1 && candidates[0].set.set_identifier.is_none() {
        return vec![&candidates[0]];
    }
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| a.set.set_identifier.cmp(&b.set.set_identifier));
    if sorted.iter().any(|c| c.set.failover.is_some()) {
        let primary = sorted
            .iter()
            .find(|c| c.set.failover == Some(Failover::Primary));
        let secondary = sorted
            .iter()
            .find(|c| c.set.failover == Some(Failover::Secondary));
        return match (primary, secondary) {
            (Some(p), Some(s)) if !ok(p) && ok(s) => vec![*s],
            (Some(p), _) => vec![*p],
            (None, Some(s)) => vec![*s],
            (None, None) => Vec::new(),
        };
    }
    let healthy: Vec<&Candidate> = sorted.iter().copied().filter(|c| ok(c)).collect();
    let pool = if healthy.is_empty() { sorted } else { healthy };
    if pool.iter().any(|c| c.set.weight.is_some()) {
        let best = pool
            .iter()
            .copied()
            .filter(|c| c.set.weight.unwrap_or(0) > 0)
            .fold(None::<&Candidate>, |best, c| match best {
                Some(b) if b.set.weight >= c.set.weight => Some(b),
                _ => Some(c),
            })
            .or_else(|| pool.first().copied());
        return best.into_iter().collect();
    }
    if pool.iter().any(|c| c.set.multi_value_answer) {
        return pool.into_iter().take(MULTIVALUE_MAX).collect();
    }
    pool.into_iter().take(1).collect()
}

/// `name` (normalised) is the zone apex or below it.
fn in_zone(name: &str, zone: &str) -> bool {
    zone == "." || name == zone || name.ends_with(&format!(".{zone}"))
}

/// Normalised text form of a DNS name (lowercase, trailing dot).
pub fn normalize(name: &Name) -> String {
    let mut s = name.to_lowercase().to_ascii();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// Parses a Route 53 value (text form) into record data.
pub fn parse_rdata(rtype: RecordType, value: &str) -> Result<RData, String> {
    // Route 53 values are fully qualified whether or not they end with a dot.
    let name = |s: &str| {
        Name::from_ascii(s)
            .map(|mut n| {
                n.set_fqdn(true);
                n
            })
            .map_err(|e| e.to_string())
    };
    let num = |s: Option<&str>| -> Result<u32, String> {
        s.ok_or("missing field")?
            .parse::<u32>()
            .map_err(|e| e.to_string())
    };
    let value = value.trim();
    Ok(match rtype {
        RecordType::A => RData::A(Ipv4Addr::from_str(value).map_err(|e| e.to_string())?.into()),
        RecordType::AAAA => {
            RData::AAAA(Ipv6Addr::from_str(value).map_err(|e| e.to_string())?.into())
        }
        RecordType::CNAME => RData::CNAME(CNAME(name(value)?)),
        RecordType::NS => RData::NS(NS(name(value)?)),
        RecordType::PTR => RData::PTR(PTR(name(value)?)),
        RecordType::TXT => {
            let strings = parse_txt(value)?;
            let refs: Vec<&[u8]> = strings.iter().map(Vec::as_slice).collect();
            RData::TXT(TXT::from_bytes(refs))
        }
        RecordType::MX => {
            let mut it = value.split_whitespace();
            let pref = num(it.next())?;
            RData::MX(MX::new(
                u16::try_from(pref).map_err(|e| e.to_string())?,
                name(it.next().ok_or("missing exchange")?)?,
            ))
        }
        RecordType::SRV => {
            let mut it = value.split_whitespace();
            let mut n16 = || -> Result<u16, String> {
                u16::try_from(num(it.next())?).map_err(|e| e.to_string())
            };
            let (p, w, port) = (n16()?, n16()?, n16()?);
            let target = value.split_whitespace().nth(3).ok_or("missing target")?;
            RData::SRV(SRV::new(p, w, port, name(target)?))
        }
        RecordType::SOA => {
            // moto returns the SOA value as a Python dict string: `{'Value': '<soa>'}`.
            let value = value
                .strip_prefix("{'Value': '")
                .and_then(|v| v.strip_suffix("'}"))
                .unwrap_or(value);
            let f: Vec<&str> = value.split_whitespace().collect();
            if f.len() != 7 {
                return Err("SOA needs 7 fields".into());
            }
            let i = |s: &str| s.parse::<i32>().map_err(|e| e.to_string());
            RData::SOA(SOA::new(
                name(f[0])?,
                name(f[1])?,
                num(Some(f[2]))?,
                i(f[3])?,
                i(f[4])?,
                i(f[5])?,
                num(Some(f[6]))?,
            ))
        }
        other => return Err(format!("record type {other} is not served")),
    })
}

/// Splits a Route 53 TXT value (`"a" "b"`, `\"`, `\\` and `\NNN` escapes) into its strings.
///
/// Hand-rolled: Route 53's quoting is a small subset of zone-file syntax and hickory's zone file
/// parser works on whole files, not single values. Unquoted values are taken as one string.
pub fn parse_txt(value: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = value.as_bytes();
    if !value.starts_with('"') {
        return Ok(vec![bytes.to_vec()]);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' => i += 1,
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                loop {
                    match bytes.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let digits = bytes.get(i + 1..i + 4);
                            if let Some(d) = digits.filter(|d| d.iter().all(u8::is_ascii_digit)) {
                                let v = (d[0] - b'0') as u32 * 64
                                    + (d[1] - b'0') as u32 * 8
                                    + (d[2] - b'0') as u32;
                                s.push(u8::try_from(v).map_err(|e| e.to_string())?);
                                i += 4;
                            } else if let Some(c) = bytes.get(i + 1) {
                                s.push(*c);
                                i += 2;
                            } else {
                                return Err("dangling escape".into());
                            }
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(s);
            }
            _ => return Err("text outside quotes".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str, private: bool, id: &str) -> Zone {
        Zone {
            id: id.into(),
            name: name.into(),
            private,
        }
    }

    fn table(records: Vec<RecordSet>) -> ZoneTable {
        ZoneTable::build(
            vec![(zone("example.com.", false, "Z1"), records)],
            Prefer::Private,
            Duration::from_secs(30),
        )
    }

    fn q(t: &ZoneTable, name: &str, qtype: RecordType, health: &dyn Health) -> Answer {
        t.answer(&Name::from_ascii(name).unwrap(), qtype, health)
    }

    fn all_ok(_: &str) -> bool {
        true
    }

    fn values(a: &Answer) -> Vec<String> {
        a.answers
            .iter()
            .map(|r| r.data().to_string())
            .collect::<Vec<_>>()
    }

    fn failover(name: &str, role: Failover, value: &str, hc: &str) -> RecordSet {
        RecordSet {
            set_identifier: Some(format!("{role:?}")),
            failover: Some(role),
            health_check_id: Some(hc.into()),
            ..RecordSet::simple(name, "A", 1, &[value])
        }
    }

    #[test]
    fn moto_soa_quirk_is_read() {
        let v =
            "{'Value': 'ns-2048.awsdns-64.com. hostmaster.example.com. 1 7200 900 1209600 86400'}";
        let RData::SOA(soa) = parse_rdata(RecordType::SOA, v).unwrap() else {
            panic!("not an SOA");
        };
        assert_eq!((soa.serial(), soa.minimum()), (1, 86400));
        assert_eq!(soa.rname().to_ascii(), "hostmaster.example.com.");
    }

    #[test]
    fn txt_values_parse() {
        assert_eq!(
            parse_txt(r#""a b" "c\"d" "\101""#).unwrap(),
            vec![b"a b".to_vec(), b"c\"d".to_vec(), b"A".to_vec()]
        );
        assert_eq!(parse_txt("plain").unwrap(), vec![b"plain".to_vec()]);
        assert!(parse_txt("\"open").is_err());
    }

    #[test]
    fn failover_follows_health() {
        let t = table(vec![
            failover("www.example.com", Failover::Primary, "10.0.0.1", "p"),
            failover("www.example.com", Failover::Secondary, "10.0.0.2", "s"),
        ]);
        let a = q(&t, "www.example.com.", RecordType::A, &all_ok);
        assert_eq!(values(&a), ["10.0.0.1"]);
        let primary_down = |id: &str| id != "p";
        assert_eq!(
            values(&q(&t, "www.example.com.", RecordType::A, &primary_down)),
            ["10.0.0.2"]
        );
        let both_down = |_: &str| false;
        assert_eq!(
            values(&q(&t, "www.example.com.", RecordType::A, &both_down)),
            ["10.0.0.1"]
        );
    }

    #[test]
    fn weighted_answers_highest_healthy_weight() {
        let w = |id: &str, weight: u64, v: &str| RecordSet {
            set_identifier: Some(id.into()),
            weight: Some(weight),
            health_check_id: Some(id.into()),
            ..RecordSet::simple("w.example.com", "A", 5, &[v])
        };
        let t = table(vec![
            w("a", 10, "10.0.0.1"),
            w("b", 200, "10.0.0.2"),
            w("c", 0, "10.0.0.3"),
        ]);
        assert_eq!(
            values(&q(&t, "w.example.com.", RecordType::A, &all_ok)),
            ["10.0.0.2"]
        );
        let b_down = |id: &str| id != "b";
        assert_eq!(
            values(&q(&t, "w.example.com.", RecordType::A, &b_down)),
            ["10.0.0.1"]
        );
    }

    #[test]
    fn cname_chain_loops_and_wildcards() {
        let t = table(vec![
            RecordSet::simple("a.example.com", "CNAME", 5, &["b.example.com"]),
            RecordSet::simple("b.example.com", "CNAME", 5, &["c.example.com"]),
            RecordSet::simple("c.example.com", "A", 7, &["10.0.0.3"]),
            RecordSet::simple("loop1.example.com", "CNAME", 5, &["loop2.example.com"]),
            RecordSet::simple("loop2.example.com", "CNAME", 5, &["loop1.example.com"]),
            RecordSet::simple("\\052.wild.example.com", "A", 5, &["10.0.0.9"]),
            RecordSet::simple("x.y.example.com", "A", 5, &["10.0.0.8"]),
        ]);
        let a = q(&t, "a.example.com.", RecordType::A, &all_ok);
        assert_eq!(values(&a), ["b.example.com.", "c.example.com.", "10.0.0.3"]);
        let l = q(&t, "loop1.example.com.", RecordType::A, &all_ok);
        assert_eq!(l.rcode, ResponseCode::NoError);
        assert_eq!(l.answers.len(), 2);
        let w = q(&t, "foo.wild.example.com.", RecordType::A, &all_ok);
        assert_eq!(values(&w), ["10.0.0.9"]);
        assert_eq!(w.answers[0].name().to_ascii(), "foo.wild.example.com.");
        let ent = q(&t, "y.example.com.", RecordType::A, &all_ok);
        assert_eq!((ent.rcode, ent.answers.len()), (ResponseCode::NoError, 0));
        let nx = q(&t, "nope.example.com.", RecordType::A, &all_ok);
        assert_eq!(nx.rcode, ResponseCode::NXDomain);
        assert_eq!(nx.authority[0].record_type(), RecordType::SOA);
        assert_eq!(
            q(&t, "example.org.", RecordType::A, &all_ok).rcode,
            ResponseCode::Refused
        );
    }

    #[test]
    fn alias_resolves_to_target_records() {
        let alias = RecordSet {
            ttl: None,
            values: vec![],
            alias_target: Some(tyk_dr_aws::route53::AliasTarget {
                hosted_zone_id: "Z1".into(),
                dns_name: "target.example.com.".into(),
                evaluate_target_health: false,
            }),
            ..RecordSet::simple("alias.example.com", "A", 0, &[])
        };
        let t = table(vec![
            alias,
            RecordSet::simple("target.example.com", "A", 42, &["10.1.1.1"]),
        ]);
        let a = q(&t, "alias.example.com.", RecordType::A, &all_ok);
        assert_eq!(values(&a), ["10.1.1.1"]);
        assert_eq!(a.answers[0].ttl(), 42);
    }

    #[test]
    fn alias_failover_evaluates_target_health() {
        let alias = |role: Failover, target: &str| RecordSet {
            ttl: None,
            values: vec![],
            set_identifier: Some(format!("{role:?}")),
            failover: Some(role),
            alias_target: Some(tyk_dr_aws::route53::AliasTarget {
                hosted_zone_id: "Z1".into(),
                dns_name: target.into(),
                evaluate_target_health: true,
            }),
            ..RecordSet::simple("api.example.com", "A", 0, &[])
        };
        let target = |name: &str, hc: &str, v: &str| RecordSet {
            health_check_id: Some(hc.into()),
            ..RecordSet::simple(name, "A", 3, &[v])
        };
        let t = table(vec![
            alias(Failover::Primary, "a.example.com."),
            alias(Failover::Secondary, "b.example.com."),
            target("a.example.com", "hc-a", "10.0.0.1"),
            target("b.example.com", "hc-b", "10.0.0.2"),
        ]);
        assert_eq!(
            values(&q(&t, "api.example.com.", RecordType::A, &all_ok)),
            ["10.0.0.1"]
        );
        let a_down = |id: &str| id != "hc-a";
        assert_eq!(
            values(&q(&t, "api.example.com.", RecordType::A, &a_down)),
            ["10.0.0.2"]
        );
    }

    #[test]
    fn private_zone_wins_same_apex() {
        let t = ZoneTable::build(
            vec![
                (
                    zone("example.com.", false, "Zpub"),
                    vec![RecordSet::simple("www.example.com", "A", 5, &["1.1.1.1"])],
                ),
                (
                    zone("example.com.", true, "Zpriv"),
                    vec![RecordSet::simple("www.example.com", "A", 5, &["10.0.0.1"])],
                ),
            ],
            Prefer::Private,
            Duration::from_secs(30),
        );
        assert_eq!(
            values(&q(&t, "www.example.com.", RecordType::A, &all_ok)),
            ["10.0.0.1"]
        );
    }
}
