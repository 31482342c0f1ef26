//! Records like the indexer's for the Chroma benchmarks (`chroma_upsert.rs`, `chroma_scale.rs`,
//! which include this file by path): 384-d unit vectors, ticket-like documents and the
//! indexer's metadata, all from a seeded generator so every run writes the same records.
// Each including benchmark uses a different part.
#![allow(dead_code)]

use serde_json::{Map, Value};
use ticketflow_connectors::chroma::VectorRecord;

/// all-MiniLM-L6-v2's embedding dimension.
pub const DIM: usize = 384;

/// SplitMix64: small, fast, deterministic across platforms.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A direction uniform on the sphere: Gaussian components, normalised.
pub fn unit_vector(rng: &mut Rng) -> Vec<f32> {
    let v: Vec<f64> = (0..DIM).map(|_| rng.normal()).collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter().map(|x| (x / norm) as f32).collect()
}

const SUBJECTS: &[&str] = &[
    "Login fails after password reset",
    "Invoice shows the wrong amount",
    "Data analytics platform crashed",
    "Request for a refund on order",
    "VPN connection drops every hour",
    "Cannot export report to PDF",
    "Question about the premium plan",
    "Printer driver update needed",
];
const OPENERS: &[&str] = &["Dear support team,", "Hello,", "Hi there,", "Good morning,"];
const SENTENCES: &[&str] = &[
    "Since the last update the application stops responding when I open the dashboard.",
    "I have already restarted my laptop and cleared the browser cache, but the problem persists.",
    "Our finance department noticed that the invoice for last month lists a duplicate charge.",
    "Could you please check the configuration of my account and tell me what went wrong?",
    "The error message says that the session has expired, even right after signing in.",
    "We rely on this integration for our weekly reporting, so a quick fix would be appreciated.",
    "I attached the log files and a screenshot of the error to this message.",
    "The issue affects several colleagues in the Berlin office who use the same version.",
    "Please let me know whether a workaround exists until the next release is available.",
    "I would also like to know if the premium plan includes priority support and backups.",
    "The device was delivered damaged and I would like to return it for a replacement.",
    "Our network team suspects that the firewall rules changed during the maintenance window.",
    "Customer number <acc_num> is affected; you can reach me at <tel_num> during office hours.",
    "The synchronisation between the mobile app and the web version no longer works.",
];
const CLOSERS: &[&str] = &[
    "Thank you for your help.",
    "Best regards, <name>",
    "Kind regards.",
    "Looking forward to your reply.",
];
const TYPES: &[&str] = &["Incident", "Request", "Problem", "Change"];
const QUEUES: &[&str] = &[
    "Technical Support",
    "Product Support",
    "Customer Service",
    "IT Support",
    "Billing and Payments",
    "Returns and Exchanges",
    "Service Outages and Maintenance",
    "Sales and Pre-Sales",
    "Human Resources",
    "General Inquiry",
];
const PRIORITIES: &[&str] = &["high", "medium", "low"];
const LANGUAGES: &[&str] = &["en", "en", "de"];

/// Subject and body like the indexer's document (the normalized ticket text), `target`
/// characters give or take a sentence, varied by ±25 %.
pub fn document(rng: &mut Rng, target: usize) -> String {
    let want = target * 3 / 4 + rng.below(target / 2 + 1);
    let mut text = format!("{}\n{}", rng.pick(SUBJECTS), rng.pick(OPENERS));
    // Stop short: the sentence that crosses the line and the closer add about 70 characters.
    while text.len() + 70 < want {
        text.push(' ');
        text.push_str(rng.pick(SENTENCES));
    }
    text.push(' ');
    text.push_str(rng.pick(CLOSERS));
    text
}

/// What `workers::indexer::record` builds for ticket `row` of a run, with the indexer's default
/// shard size (500).
pub fn record(rng: &mut Rng, run_id: &str, row: usize, doc_chars: usize) -> VectorRecord {
    let mut metadata = Map::new();
    for (key, values) in [
        ("type", TYPES),
        ("queue", QUEUES),
        ("priority", PRIORITIES),
        ("language", LANGUAGES),
    ] {
        metadata.insert(key.into(), Value::from(rng.pick(values)));
    }
    metadata.insert("run_id".into(), Value::from(run_id));
    metadata.insert("embedding_precision".into(), Value::from("fp32"));
    metadata.insert("shard".into(), Value::from(row / 500));
    metadata.insert("row".into(), Value::from(row));
    VectorRecord {
        id: format!("{:016x}", rng.next_u64()),
        embedding: unit_vector(rng),
        document: document(rng, doc_chars),
        metadata,
    }
}
