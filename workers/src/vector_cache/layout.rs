//! What a vector space holds in the object store, object by object, and how each is encoded.
//!
//! ```text
//! {space}/{segment}.npy             vectors of one shard's new texts        immutable
//! {space}/{segment}.hashes          their BLAKE3 text hashes, 32 bytes a row immutable, after .npy
//! {space}/recent/{segment}          empty: "this segment is in no index run yet", after .hashes
//! {space}/index/{run}.run           a compacted index run (format below)     immutable
//! {space}/manifest.json             which runs make the index, oldest first  compare-and-set
//! {space}/used/{YYYY-MM-DD}/{id}    segments a shard used that day, a line each
//! ```
//!
//! `{space}` is `vectors/{model digest}-{precision}` ([`keys::vector_space`]). Segment and run
//! names are hex digests of their content, so two writers of the same content write the same
//! key, and nothing a name points to ever changes.
//!
//! [`keys::vector_space`]: ticketflow_connectors::store::keys::vector_space

use std::collections::BTreeMap;

use ticketflow_connectors::store::keys;

use super::TextHash;

/// `{space}/manifest.json`.
pub(crate) fn manifest_key(space: &str) -> String {
    format!("{space}/manifest.json")
}

/// `{space}/recent`: the markers of segments no index run holds yet.
pub(crate) fn recent_prefix(space: &str) -> String {
    format!("{space}/recent")
}

pub(crate) fn recent_key(space: &str, segment: &str) -> String {
    format!("{space}/recent/{segment}")
}

pub(crate) fn run_key(space: &str, run: &str) -> String {
    format!("{space}/index/{run}.run")
}

pub(crate) fn used_key(space: &str, day: Day, record: &str) -> String {
    format!("{space}/used/{day}/{record}")
}

pub(crate) fn segment_key(space: &str, segment: &str, ext: &str) -> String {
    keys::vector_segment(space, segment, ext)
}

/// A segment or run name: a hex digest (32 digits as written; up to 64 accepted). Names come
/// back from listings and index runs, so they are checked before they become keys.
pub(crate) fn is_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The first 32 hex digits of the BLAKE3 hash of `bytes`: the name of a segment (of its
/// hashes), a run or a usage record.
pub(crate) fn content_name(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..32].to_string()
}

/// What a key under a space is, from a listing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Object<'a> {
    /// `{segment}.npy` or `{segment}.hashes`.
    Segment {
        name: &'a str,
        ext: &'a str,
    },
    Recent(&'a str),
    Run(&'a str),
    Manifest,
    Used {
        day: Day,
    },
    /// Anything else (left alone, except when a whole space is deleted).
    Other,
}

/// Classifies `key`, a key listed under `space`.
pub(crate) fn classify<'a>(space: &str, key: &'a str) -> Object<'a> {
    let Some(rest) = key.strip_prefix(space).and_then(|k| k.strip_prefix('/')) else {
        return Object::Other;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["manifest.json"] => Object::Manifest,
        [file] => match file.rsplit_once('.') {
            Some((name, ext @ ("npy" | "hashes"))) if is_name(name) => {
                Object::Segment { name, ext }
            }
            _ => Object::Other,
        },
        ["recent", name] if is_name(name) => Object::Recent(name),
        ["index", file] => match file.strip_suffix(".run") {
            Some(name) if is_name(name) => Object::Run(name),
            _ => Object::Other,
        },
        ["used", day, _] => match day.parse() {
            Ok(day) => Object::Used { day },
            Err(_) => Object::Other,
        },
        _ => Object::Other,
    }
}

/// A `.hashes` file's rows; `None` when it is not whole 32-byte rows.
pub(crate) fn parse_hashes(bytes: &[u8]) -> Option<Vec<TextHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .filter_map(|c| c.try_into().ok())
            .collect(),
    )
}

/// A calendar day (UTC), counted from 1970-01-01. Usage is recorded per day, and `gc` keeps
/// what was used in the last N of them. Shown and parsed as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// The day of a Unix time in milliseconds.
    pub fn of_ms(ms: u64) -> Day {
        Day((ms / 86_400_000) as i64)
    }

    /// Today (UTC).
    pub fn today() -> Day {
        Day::of_ms(ticketflow_schemas::now_ms())
    }

    /// `n` days earlier.
    pub fn minus(self, n: u32) -> Day {
        Day(self.0 - i64::from(n))
    }
}

/// Proleptic Gregorian calendar, from days since the epoch (H. Hinnant's `civil_from_days`).
impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// `YYYY-MM-DD` (H. Hinnant's `days_from_civil`).
impl std::str::FromStr for Day {
    type Err = String;

    fn from_str(s: &str) -> Result<Day, String> {
        let bad = || format!("{s:?} is not a date as YYYY-MM-DD");
        let mut parts = s.splitn(3, '-');
        let mut next = |len: usize| {
            parts
                .next()
                .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<i64>().ok())
                .ok_or_else(bad)
        };
        let (y, m, d) = (next(4)?, next(2)?, next(2)?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err(bad());
        }
        let y = y - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let day = Day(era * 146_097 + doe - 719_468);
        // 2026-02-31 would land in March: refuse it rather than guess.
        if day.to_string() != s {
            return Err(bad());
        }
        Ok(day)
    }
}

/// One index run as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunRef {
    pub id: String,
    pub segments: u64,
    pub texts: u64,
}

/// `{space}/manifest.json`: the index runs, oldest first (a text in a later run wins), and
/// since when usage is recorded (gc judges "unused for N days" only over recorded days).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub runs: Vec<RunRef>,
    pub usage_since: Day,
    pub updated_at_ms: u64,
}

const MANIFEST_FORMAT: u64 = 1;

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        let runs: Vec<serde_json::Value> = self
            .runs
            .iter()
            .map(|r| serde_json::json!({"id": r.id, "segments": r.segments, "texts": r.texts}))
            .collect();
        let value = serde_json::json!({
            "format": MANIFEST_FORMAT,
            "runs": runs,
            "usage_since": self.usage_since.to_string(),
            "updated_at_ms": self.updated_at_ms,
        });
        serde_json::to_vec_pretty(&value).unwrap_or_default()
    }

    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if value["format"].as_u64() != Some(MANIFEST_FORMAT) {
            return Err(format!(
                "format {} is not {MANIFEST_FORMAT}",
                value["format"]
            ));
        }
        let runs = value["runs"]
            .as_array()
            .ok_or("no runs list")?
            .iter()
            .map(|r| {
                let id = r["id"]
                    .as_str()
                    .filter(|id| is_name(id))
                    .ok_or("a run id")?;
                Ok(RunRef {
                    id: id.to_string(),
                    segments: r["segments"].as_u64().unwrap_or(0),
                    texts: r["texts"].as_u64().unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, &str>>()?;
        let usage_since = value["usage_since"]
            .as_str()
            .ok_or("no usage_since")?
            .parse()?;
        Ok(Manifest {
            runs,
            usage_since,
            updated_at_ms: value["updated_at_ms"].as_u64().unwrap_or(0),
        })
    }
}

/// A compacted index run: every text hash of its segments, sorted, with its segment and row.
///
/// Binary, little-endian: `TFVRUN1\n`, a u32 segment count, each segment name as a u8 length
/// and its bytes, a u64 row count, then per row the 32-byte hash, the u32 segment number and
/// the u32 row (40 bytes). About 40 MB at a million texts, read once per process and run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Run {
    pub segments: Vec<String>,
    /// Sorted by hash, one row per hash.
    pub rows: Vec<(TextHash, u32, u32)>,
}

const RUN_MAGIC: &[u8; 8] = b"TFVRUN1\n";

impl Run {
    /// Folds `sources` (oldest first) into one run. Where several hold a text, the latest
    /// source wins: after a segment is lost and its texts embedded again, the newer segment
    /// must serve them.
    pub fn merge<'a>(sources: impl IntoIterator<Item = Source<'a>>) -> Run {
        let mut segments: Vec<String> = Vec::new();
        let mut numbers: BTreeMap<String, u32> = BTreeMap::new();
        let mut rows: BTreeMap<TextHash, (u32, u32)> = BTreeMap::new();
        let mut number = |name: &str, segments: &mut Vec<String>| -> u32 {
            *numbers.entry(name.to_string()).or_insert_with(|| {
                segments.push(name.to_string());
                (segments.len() - 1) as u32
            })
        };
        for source in sources {
            match source {
                Source::Run(run) => {
                    let local: Vec<u32> = run
                        .segments
                        .iter()
                        .map(|s| number(s, &mut segments))
                        .collect();
                    for &(hash, segment, row) in &run.rows {
                        if let Some(&n) = local.get(segment as usize) {
                            rows.insert(hash, (n, row));
                        }
                    }
                }
                Source::Segment(name, hashes) => {
                    let n = number(name, &mut segments);
                    for (row, hash) in hashes.iter().enumerate() {
                        rows.insert(*hash, (n, row as u32));
                    }
                }
            }
        }
        Run {
            segments,
            rows: rows.into_iter().map(|(h, (s, r))| (h, s, r)).collect(),
        }
    }

    /// The same run without `dropped` segments (gc): their rows go, the rest renumbered.
    pub fn without(&self, dropped: &std::collections::HashSet<String>) -> Run {
        let kept: Vec<Option<u32>> = {
            let mut next = 0;
            self.segments
                .iter()
                .map(|s| {
                    (!dropped.contains(s)).then(|| {
                        next += 1;
                        next - 1
                    })
                })
                .collect()
        };
        Run {
            segments: self
                .segments
                .iter()
                .filter(|s| !dropped.contains(*s))
                .cloned()
                .collect(),
            rows: self
                .rows
                .iter()
                .filter_map(|&(h, s, r)| Some((h, kept.get(s as usize).copied().flatten()?, r)))
                .collect(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.segments.len() * 33 + self.rows.len() * 40);
        out.extend_from_slice(RUN_MAGIC);
        out.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        for s in &self.segments {
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&(self.rows.len() as u64).to_le_bytes());
        for (hash, segment, row) in &self.rows {
            out.extend_from_slice(hash);
            out.extend_from_slice(&segment.to_le_bytes());
            out.extend_from_slice(&row.to_le_bytes());
        }
        out
    }

    /// Reads a run back, checking every length, name and segment number (a run is data from
    /// the store, so a damaged one is an error, never a panic).
    pub fn decode(bytes: &[u8]) -> Result<Run, String> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], String> {
            let piece = bytes
                .get(at..at.checked_add(n).ok_or("length overflow")?)
                .ok_or_else(|| format!("truncated at byte {at}"))?;
            at += n;
            Ok(piece)
        };
        if take(8)? != RUN_MAGIC {
            return Err("not an index run".into());
        }
        let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let count = u32_at(take(4)?) as usize;
        let mut segments = Vec::with_capacity(count.min(1 << 20));
        for _ in 0..count {
            let len = take(1)?[0] as usize;
            let name = std::str::from_utf8(take(len)?).map_err(|e| e.to_string())?;
            if !is_name(name) {
                return Err(format!("bad segment name {name:?}"));
            }
            segments.push(name.to_string());
        }
        let len = take(8)?;
        let rows_count = u64::from_le_bytes(len.try_into().map_err(|_| "row count")?);
        let rows_count = usize::try_from(rows_count).map_err(|e| e.to_string())?;
        let body = take(rows_count.checked_mul(40).ok_or("row count overflow")?)?;
        let mut rows = Vec::with_capacity(rows_count);
        for row in body.chunks_exact(40) {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&row[..32]);
            let segment = u32_at(&row[32..36]);
            if segment as usize >= segments.len() {
                return Err(format!("row names segment {segment} of {}", segments.len()));
            }
            rows.push((hash, segment, u32_at(&row[36..40])));
        }
        if at != bytes.len() {
            return Err(format!("{} bytes after the last row", bytes.len() - at));
        }
        Ok(Run { segments, rows })
    }
}

/// Something [`Run::merge`] folds in: an index run, or a segment with its hashes.
pub(crate) enum Source<'a> {
    Run(&'a Run),
    Segment(&'a str, &'a [TextHash]),
}
