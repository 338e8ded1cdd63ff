//! A mutation fuzzer for the hand-written HTTP/1 pieces: request head selection and forwarding
//! (`h1::head`, `proxy::headers`), path normalisation (`target`), response framing and the client head
//! (`h1::head`), and the chunked-body scanner (`h1::body`). It runs on stable Rust inside the test
//! suite, for a bounded number of inputs and time, from the corpus in `tests/fuzz-corpus/` (one seed
//! per file: `req-*`, `resp-*`, `chunk-*`, `path-*`).
//!
//! Each input is checked against properties rather than expected outputs:
//! - a request the fast path takes has a normal path, one `Host`, no fragment, and the head forwarded
//!   for it re-parses as exactly the same number of bytes, with no hop-by-hop or impersonating header,
//!   one `X-Forwarded-For`, and as many `Content-Length` lines as it came with;
//! - normalising a path is idempotent and leaves no empty, `.` or `..` segment;
//! - a response head the fast path relays re-parses whole, carries `Content-Length` exactly when the
//!   body is relayed by length (with that length), `Transfer-Encoding` exactly when chunked, and one
//!   `X-Tyk-DR-Region`;
//! - the chunked scanner gives the same answer whatever the read boundaries.
//!
//! Longer runs: `TYK_FUZZ_ITERS=5000000 TYK_FUZZ_SECS=600 TYK_FUZZ_SEED=$RANDOM cargo test -p
//! tyk-dr-gateway --test fuzz`. A failure prints the seed, the iteration and the input; add the input
//! to the corpus when the bug is fixed.

use std::path::Path;
use std::time::{Duration, Instant};

use tyk_dr_gateway::h1::body::Chunked;
use tyk_dr_gateway::h1::head::{self, Additions, Framing, Scan, MAX_HEADERS};
use tyk_dr_gateway::proxy::headers::{self, Forwarding, Known};
use tyk_dr_gateway::target;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn corpus(prefix: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(
        !seeds.is_empty(),
        "no `{prefix}*` seeds in {}",
        dir.display()
    );
    seeds
}

const INTERESTING: &[u8] = b"\r\n:; \t,%#.0aF/\\_\x00\x7f\x80\xff";
const LINES: &[&[u8]] = &[
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: Content-Length, X-A\r\n",
    b"Connection: close\r\n",
    b"Connection: Host\r\n",
    b"Content_Length: 7\r\n",
    b"X-Forwarded-For: 9.9.9.9\r\n",
    b"Host: evil\r\n",
    b"Upgrade: x\r\n",
    b" folded\r\n",
    b"X-Tyk-DR-Region: spoof\r\n",
    b"\r\n",
    b"0\r\n\r\n",
];

/// One to four random edits of `input` (byte changes, deletions, duplications, inserted lines,
/// splices with another seed, truncation).
fn mutate(rng: &mut fastrand::Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(0..=v.len());
        match rng.usize(0..7) {
            0 if !v.is_empty() => {
                let i = rng.usize(..v.len());
                v[i] = INTERESTING[rng.usize(..INTERESTING.len())];
            }
            1 if !v.is_empty() => {
                v.remove(rng.usize(..v.len()));
            }
            2 => v.insert(at, INTERESTING[rng.usize(..INTERESTING.len())]),
            3 => {
                // Insert a header line at a line start when there is one.
                let starts: Vec<usize> = v
                    .iter()
                    .enumerate()
                    .filter(|(_, &b)| b == b'\n')
                    .map(|(i, _)| i + 1)
                    .collect();
                let at = if starts.is_empty() {
                    at
                } else {
                    starts[rng.usize(..starts.len())]
                };
                let line = LINES[rng.usize(..LINES.len())];
                v.splice(at..at, line.iter().copied());
            }
            4 if !v.is_empty() => {
                let a = rng.usize(..v.len());
                let b = rng.usize(a..=v.len().min(a + 16));
                let piece = v[a..b].to_vec();
                v.splice(at..at, piece);
            }
            5 => {
                let other = &seeds[rng.usize(..seeds.len())];
                let cut = rng.usize(0..=other.len());
                v.truncate(at);
                v.extend_from_slice(&other[cut..]);
            }
            _ => v.truncate(at),
        }
    }
    v
}

fn check_request(input: &[u8]) -> Result<(), String> {
    let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut h);
    let Ok(httparse::Status::Complete(_)) = req.parse(input) else {
        return Ok(());
    };
    let head = match head::scan_request(&req) {
        Scan::Take(head) => head,
        Scan::Handoff => return Ok(()),
        Scan::Refuse(_) => {
            return match req.path.unwrap_or("").contains('#') {
                true => Ok(()),
                false => Err("refused a target without a fragment".into()),
            }
        }
    };
    if !target::is_plain(head.path)
        || target::normalise(head.path, false).as_deref() != Ok(head.path)
    {
        return Err(format!("took a path not in normal form: {:?}", head.path));
    }
    let hosts = req
        .headers
        .iter()
        .filter(|h| Known::of(h.name) == Known::Host)
        .count();
    if hosts != 1 || req.path.unwrap_or("").contains('#') {
        return Err(format!("took a head with {hosts} Host lines or a fragment"));
    }
    let lengths_in = req
        .headers
        .iter()
        .filter(|h| Known::of(h.name) == Known::ContentLength)
        .count();
    let mut out = b"GET / HTTP/1.1\r\n".to_vec();
    let fwd = Forwarding {
        host: b"up:1",
        client_host: Some(head.host),
        client_ip: b"127.0.0.1",
        strip: None,
        opts: head.opts,
        chunked: false,
    };
    headers::forward_request_headers(head::pairs(head.headers), &fwd, &mut out, &mut Vec::new());
    out.extend_from_slice(b"\r\n");
    let mut h2 = [httparse::EMPTY_HEADER; MAX_HEADERS + 8];
    let mut again = httparse::Request::new(&mut h2);
    match again.parse(&out) {
        Ok(httparse::Status::Complete(n)) if n == out.len() => {}
        other => {
            return Err(format!(
                "forwarded head does not re-parse whole: {other:?}: {:?}",
                String::from_utf8_lossy(&out)
            ))
        }
    }
    let kinds: Vec<Known> = again.headers.iter().map(|h| Known::of(h.name)).collect();
    let count = |k: Known| kinds.iter().filter(|&&x| x == k).count();
    let forbidden = kinds.iter().any(|k| {
        matches!(
            k,
            Known::HopByHop
                | Known::Connection
                | Known::Upgrade
                | Known::TransferEncoding
                | Known::Impersonation
        )
    });
    if forbidden
        || count(Known::ForwardedFor) != 1
        || count(Known::Host) != 1
        || count(Known::ContentLength) != lengths_in
    {
        return Err(format!(
            "forwarded head breaks the header rules: {:?}",
            String::from_utf8_lossy(&out)
        ));
    }
    Ok(())
}

fn check_path(input: &[u8]) -> Result<(), String> {
    let Ok(p) = std::str::from_utf8(input) else {
        return Ok(());
    };
    for allow in [false, true] {
        if target::is_plain(p) && target::normalise(p, allow).as_deref() != Ok(p) {
            return Err(format!("a plain path was changed: {p:?}"));
        }
        let Ok(n) = target::normalise(p, allow) else {
            continue;
        };
        if target::normalise(&n, allow).as_deref() != Ok(&*n) {
            return Err(format!("normalising {p:?} twice differs: {n:?}"));
        }
        let segs: Vec<&str> = n.split('/').skip(1).collect();
        let bad_seg = segs.iter().enumerate().any(|(i, s)| {
            let bare = s.split(';').next().unwrap_or("");
            (s.is_empty() && i + 1 != segs.len()) || bare == "." || bare == ".."
        });
        if !n.starts_with('/') || bad_seg || n.contains(['#', '\\', ' ']) {
            return Err(format!("{p:?} normalised to {n:?}"));
        }
    }
    Ok(())
}

fn check_response(input: &[u8], head_request: bool) -> Result<(), String> {
    let mut h = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut h);
    let Ok(httparse::Status::Complete(_)) = resp.parse(input) else {
        return Ok(());
    };
    let Ok(info) = head::scan_response(&resp, head_request) else {
        return Ok(());
    };
    let mut out = Vec::new();
    let add = Additions {
        report: None,
        region: b"r1",
        close: false,
    };
    head::write_client_head(&mut out, &resp, &info, &add);
    let mut h2 = [httparse::EMPTY_HEADER; MAX_HEADERS + 8];
    let mut again = httparse::Response::new(&mut h2);
    match again.parse(&out) {
        Ok(httparse::Status::Complete(n)) if n == out.len() => {}
        other => return Err(format!("client head does not re-parse whole: {other:?}")),
    }
    let values = |k: Known| -> Vec<&[u8]> {
        again
            .headers
            .iter()
            .filter(|h| Known::of(h.name) == k)
            .map(|h| h.value)
            .collect()
    };
    let lengths = values(Known::ContentLength);
    let length_ok = match info.framing {
        Framing::Length(n) => {
            !lengths.is_empty()
                && lengths.iter().all(|v| {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        == Some(n)
                })
        }
        Framing::Chunked | Framing::UntilClose => lengths.is_empty(),
        Framing::Empty => true,
    };
    let te_ok = values(Known::TransferEncoding).is_empty() != (info.framing == Framing::Chunked);
    let hop = again.headers.iter().any(|h| {
        matches!(
            Known::of(h.name),
            Known::HopByHop | Known::Upgrade | Known::Impersonation
        )
    });
    if !length_ok || !te_ok || hop || values(Known::Region).len() != 1 {
        return Err(format!(
            "client head breaks the framing rules ({:?}): {:?}",
            info.framing,
            String::from_utf8_lossy(&out)
        ));
    }
    Ok(())
}

fn scan_chunked(input: &[u8], steps: &[usize]) -> Result<(usize, bool), String> {
    let mut c = Chunked::default();
    let (mut consumed, mut have) = (0, 0);
    for &step in steps.iter().cycle() {
        have = (have + step.max(1)).min(input.len());
        let (n, done) = c.scan(&input[consumed..have]).map_err(|e| e.to_string())?;
        consumed += n;
        if done || have == input.len() {
            return Ok((consumed, done));
        }
    }
    unreachable!()
}

fn check_chunked(input: &[u8], rng: &mut fastrand::Rng) -> Result<(), String> {
    let whole = scan_chunked(input, &[input.len().max(1)]);
    let steps: Vec<usize> = (0..4).map(|_| rng.usize(1..8)).collect();
    let split = scan_chunked(input, &steps);
    // A complete body ends at the same byte however it was read; an error is an error either way.
    let agree = match (&whole, &split) {
        (Ok((a, true)), Ok((b, true))) => a == b,
        (Ok((_, false)), Ok((_, false))) | (Err(_), Err(_)) => true,
        _ => false,
    };
    if !agree {
        return Err(format!(
            "read at once: {whole:?}; read in steps {steps:?}: {split:?}"
        ));
    }
    Ok(())
}

#[test]
fn hand_written_http_pieces_hold_their_properties_under_mutation() {
    let seed = env_or("TYK_FUZZ_SEED", 20261203);
    let iters = env_or("TYK_FUZZ_ITERS", 400_000);
    let deadline = Instant::now() + Duration::from_secs(env_or("TYK_FUZZ_SECS", 20));
    let mut rng = fastrand::Rng::with_seed(seed);
    let sets = [
        corpus("req-"),
        corpus("resp-"),
        corpus("chunk-"),
        corpus("path-"),
    ];
    let mut failures = Vec::new();
    let mut ran = 0u64;
    // The seeds themselves first, then mutations of them.
    for i in 0..iters {
        if Instant::now() > deadline {
            break;
        }
        let kind = (i % 4) as usize;
        let seeds = &sets[kind];
        let base = &seeds[rng.usize(..seeds.len())];
        let input = if i < 4 * 8 {
            base.clone()
        } else {
            mutate(&mut rng, base, seeds)
        };
        let result = match kind {
            0 => check_request(&input),
            1 => check_response(&input, false).and_then(|()| check_response(&input, true)),
            2 => check_chunked(&input, &mut rng),
            _ => check_path(&input),
        };
        ran += 1;
        if let Err(e) = result {
            failures.push(format!(
                "iteration {i}: {e}\n    input: {:?}",
                String::from_utf8_lossy(&input)
            ));
            if failures.len() >= 10 {
                break;
            }
        }
    }
    eprintln!("fuzz: seed {seed}, {ran} inputs");
    assert!(ran >= 10_000.min(iters), "only {ran} inputs ran");
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
}
