//! Deterministic synthetic Bedrock invocation logs shaped like PERF-LIMITS.md: Zipf principals
//! (IAM users and role sessions over several accounts), 15+ model ids in every id form, the four
//! operations with their real body shapes (streaming outputs are lists of events), cache tokens,
//! error records, unicode and escape-dense text, log-normal body sizes with a RAG tail.
//! Used by the benchmarks, `spendguard bench`, and tests. Same seed, same bytes.
#![allow(clippy::float_arithmetic)] // sizes and Zipf draws, never money

use flate2::{write::GzEncoder, Compression};
use serde_json::json;
use std::io::Write;

/// SplitMix64: tiny, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
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
        (self.unit() * n as f64) as usize % n.max(1)
    }
    /// Zipf-like rank in [0, n): rank r has weight about 1/(r+1).
    pub fn zipf(&mut self, n: usize) -> usize {
        let x = ((n as f64 + 1.0).ln() * self.unit()).exp() - 1.0;
        (x as usize).min(n.saturating_sub(1))
    }
    /// Log-normal with the given median and sigma.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        median * (sigma * z).exp()
    }
}

/// Shape of a synthetic data set.
#[derive(Debug, Clone)]
pub struct Spec {
    pub seed: u64,
    pub invocations: usize,
    /// First event time (epoch ms); events advance by about `spacing_ms`.
    pub start_ms: i64,
    pub spacing_ms: i64,
    pub principals: usize,
    /// Share of records that are error records, per mille.
    pub error_per_mille: u32,
    /// Share of records with an unknown model id, per mille.
    pub unknown_model_per_mille: u32,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            seed: 42,
            invocations: 10_000,
            start_ms: 1_795_132_800_000, // 2026-11-20T00:00:00Z
            spacing_ms: 350,
            principals: 1_000,
            error_per_mille: 10,
            unknown_model_per_mille: 5,
        }
    }
}

const ACCOUNTS: &[&str] = &[
    "111122223333",
    "222233334444",
    "333344445555",
    "444455556666",
    "555566667777",
];
const ROLES: &[&str] = &[
    "DataScience",
    "AWSReservedSSO_Developer_0a1b2c3d",
    "ChatbotService",
    "BatchSummarizer",
    "ml-platform-ci",
];
const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1"];

/// (model id as the caller passes it, weight, anthropic body shape, has cache): the mix of a
/// 2026-11 account (Claude 5.x and 4.x, OpenAI GPT-5.6/6 on Bedrock, Kimi, GLM, Nova, Llama,
/// embeddings, an India geo profile, a few older models still in real logs), every id form.
const MODELS: &[(&str, u32, bool, bool)] = &[
    ("global.anthropic.claude-sonnet-5-5", 14, true, true),
    ("us.anthropic.claude-sonnet-5-5", 6, true, true),
    ("global.anthropic.claude-haiku-5-5", 10, true, true),
    ("eu.anthropic.claude-haiku-5-5", 3, true, true),
    ("global.anthropic.claude-opus-5-5", 4, true, true),
    (
        "arn:aws:bedrock:us-west-2:111122223333:inference-profile/global.anthropic.claude-opus-4-8-v1:0",
        2,
        true,
        true,
    ),
    ("in.anthropic.claude-sonnet-5", 2, true, true),
    ("global.anthropic.claude-fable-5-2", 1, true, true),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 4, true, true),
    (
        "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        3,
        true,
        true,
    ),
    ("global.openai.gpt-5.6-sol", 4, false, true),
    ("us.openai.gpt-5.6-terra", 3, false, true),
    ("global.openai.gpt-6-sol", 3, false, true),
    ("in.openai.gpt-6-luna", 2, false, true),
    ("global.moonshotai.kimi-k3", 2, false, true),
    ("global.zai.glm-5.3", 2, false, true),
    ("amazon.nova-lite-v1:0", 6, false, true),
    ("amazon.nova-micro-v1:0", 5, false, true),
    ("us.amazon.nova-pro-v1:0", 3, false, true),
    ("global.amazon.nova-2-lite-v1:0", 3, false, true),
    (
        "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-3-70b-instruct-v1:0",
        3,
        false,
        false,
    ),
    ("us.meta.llama4-maverick-17b-instruct-v1:0", 2, false, false),
    ("mistral.pixtral-large-2502-v1:0", 1, false, false),
    ("amazon.titan-embed-text-v2:0", 4, false, false),
    ("cohere.embed-english-v3", 2, false, false),
    ("openai.gpt-oss-120b-1:0", 2, false, false),
    ("anthropic.claude-v2:1", 1, true, false),
    ("ai21.jamba-1-5-large-v1:0", 1, false, false),
];
const UNKNOWN_MODELS: &[&str] = &["us.newvendor.frontier-x-v2:0", "acme.internal-llm-v1:0"];

struct Text {
    words: Vec<String>,
}

impl Text {
    fn new(rng: &mut Rng) -> Self {
        // English letter frequencies (per mille), so text compresses like prose (about 3.6x with
        // the JSON around it), not like a syllable game.
        const FREQ: &[(char, u32)] = &[
            ('e', 127),
            ('t', 91),
            ('a', 82),
            ('o', 75),
            ('i', 70),
            ('n', 67),
            ('s', 63),
            ('h', 61),
            ('r', 60),
            ('d', 43),
            ('l', 40),
            ('c', 28),
            ('u', 28),
            ('m', 24),
            ('w', 24),
            ('f', 22),
            ('g', 20),
            ('y', 20),
            ('p', 19),
            ('b', 15),
            ('v', 10),
            ('k', 8),
            ('j', 2),
            ('x', 2),
            ('q', 1),
            ('z', 1),
        ];
        const EXOTIC: &[&str] = &[
            "café",
            "naïve",
            "Größe",
            "日本語",
            "数据",
            "привет",
            "مرحبا",
            "🙂",
            "👍🏽",
            "ñandú",
            "€100",
            "μs",
        ];
        let total: u32 = FREQ.iter().map(|f| f.1).sum();
        let mut words = Vec::with_capacity(6_000);
        for i in 0..6_000 {
            if i % 50 == 7 {
                words.push(EXOTIC[rng.below(EXOTIC.len())].to_string());
                continue;
            }
            let len = 2 + rng.below(4) + rng.below(6);
            let w: String = (0..len)
                .map(|_| {
                    let mut x = rng.below(total as usize) as u32;
                    let mut c = 'e';
                    for &(ch, f) in FREQ {
                        if x < f {
                            c = ch;
                            break;
                        }
                        x -= f;
                    }
                    c
                })
                .collect();
            words.push(w);
        }
        Text { words }
    }

    /// About `bytes` of prose with quotes, backslashes, tabs, newlines and code.
    fn prose(&self, rng: &mut Rng, bytes: usize) -> String {
        let mut s = String::with_capacity(bytes + 32);
        while s.len() < bytes {
            let w = &self.words[rng.zipf(self.words.len())];
            s.push_str(w);
            match rng.below(40) {
                0 => s.push_str("\n\n"),
                1 => s.push_str(" \"quoted\" "),
                2 => s.push_str(" C:\\path\\to\\file "),
                3 => s.push_str("\tcol\t"),
                4 => s.push_str("\n```rust\nfn main() { println!(\"{}\", 1); }\n```\n"),
                5 => s.push_str(". "),
                _ => s.push(' '),
            }
        }
        s
    }
}

/// One synthetic invocation record, as the JSON string Bedrock logs.
pub struct Generator {
    rng: Rng,
    text: Text,
    spec: Spec,
    systems: Vec<String>,
    n: usize,
    model_total: u32,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("n", &self.n)
            .finish_non_exhaustive()
    }
}

impl Generator {
    pub fn new(spec: Spec) -> Self {
        let mut rng = Rng::new(spec.seed);
        let text = Text::new(&mut rng);
        let systems = (0..40)
            .map(|_| {
                let len = rng.lognormal(800.0, 0.8) as usize;
                text.prose(&mut rng, len)
            })
            .collect();
        let model_total = MODELS.iter().map(|m| m.1).sum();
        Generator {
            rng,
            text,
            spec,
            systems,
            n: 0,
            model_total,
        }
    }

    fn identity(&mut self) -> String {
        let p = self.rng.zipf(self.spec.principals);
        let acct = ACCOUNTS[p % ACCOUNTS.len()];
        if p.is_multiple_of(3) {
            format!("arn:aws:iam::{acct}:user/user-{p:04}")
        } else {
            let role = ROLES[p % ROLES.len()];
            format!("arn:aws:sts::{acct}:assumed-role/{role}/session-{p:04}@example.com")
        }
    }

    fn model(&mut self) -> (&'static str, bool, bool) {
        if self.rng.below(1000) < self.spec.unknown_model_per_mille as usize {
            return (
                UNKNOWN_MODELS[self.rng.below(UNKNOWN_MODELS.len())],
                false,
                false,
            );
        }
        let mut x = self.rng.below(self.model_total as usize) as u32;
        for &(id, w, anthropic, cache) in MODELS {
            if x < w {
                return (id, anthropic, cache);
            }
            x -= w;
        }
        (MODELS[0].0, true, true)
    }

    /// The next record as JSON text, and its event time.
    pub fn next_record(&mut self) -> (String, i64) {
        let r = self.next_full();
        (r.json, r.event_ms)
    }

    /// The next record with the facts a file layout needs (account, Region, time).
    pub fn next_full(&mut self) -> SynthRecord {
        let i = self.n;
        self.n += 1;
        let ts =
            self.spec.start_ms + (i as i64) * self.spec.spacing_ms + self.rng.below(200) as i64;
        let secs = ts.div_euclid(1000);
        let stamp = crate::synth::rfc3339_seconds(secs);
        let (model_id, anthropic, has_cache) = self.model();
        let op = match self.rng.below(100) {
            0..=44 => "Converse",
            45..=64 => "ConverseStream",
            65..=89 => "InvokeModel",
            _ => "InvokeModelWithResponseStream",
        };
        let embed = model_id.contains("embed");
        let op = if embed { "InvokeModel" } else { op };
        let identity = self.identity();
        let acct = identity
            .split(':')
            .nth(4)
            .unwrap_or("111122223333")
            .to_string();
        let region = REGIONS[self.rng.zipf(REGIONS.len())];
        let request_id = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            self.rng.next_u64() as u32,
            self.rng.next_u64() as u16,
            self.rng.next_u64() as u16 & 0xfff,
            (self.rng.next_u64() as u16 & 0x3fff) | 0x8000,
            self.rng.next_u64() & 0xffff_ffff_ffff
        );
        let mut rec = json!({
            "schemaType": "ModelInvocationLog", "schemaVersion": "1.0", "timestamp": stamp,
            "accountId": acct, "identity": {"arn": identity}, "region": region,
            "requestId": request_id, "operation": op, "modelId": model_id,
        });
        if self.rng.below(1000) < self.spec.error_per_mille as usize {
            rec["errorCode"] = json!("ThrottlingException");
            rec["input"] = json!({});
            rec["output"] = json!({});
            return SynthRecord {
                json: rec.to_string(),
                event_ms: ts,
                account: acct,
                region,
            };
        }
        if model_id.starts_with("us.")
            || model_id.starts_with("global.")
            || model_id.contains("inference-profile")
        {
            let ir = ["us-east-1", "us-east-2", "us-west-2"][self.rng.below(3)];
            rec["inferenceRegion"] = json!(ir);
        }
        if self.rng.below(10) == 0 {
            let team = ["payments", "search", "growth"][self.rng.below(3)];
            rec["requestMetadata"] = json!({"team": team, "feature": "chat"});
        }
        // Body sizes: log-normal input (median about 4.3 KB) with a 1.5% RAG tail (median 60 KB).
        let in_bytes = if self.rng.below(1000) < 15 {
            self.rng.lognormal(60_000.0, 0.5)
        } else {
            self.rng.lognormal(4_300.0, 0.9)
        }
        .clamp(50.0, 200_000.0) as usize;
        let out_bytes = if embed {
            0
        } else {
            self.rng.lognormal(2_000.0, 0.8).clamp(20.0, 30_000.0) as usize
        };
        let system = self.systems[self.rng.below(self.systems.len())].clone();
        let user = self.text.prose(&mut self.rng, in_bytes);
        let answer = self.text.prose(&mut self.rng, out_bytes);
        let in_tokens = (in_bytes + system.len()) as i64 / 4 + 3;
        let out_tokens = out_bytes as i64 / 4 + 1;
        let (mut cache_read, mut cache_write, mut one_hour) = (0i64, 0i64, 0i64);
        if has_cache && self.rng.below(100) < 40 {
            if self.rng.below(2) == 0 {
                cache_read = system.len() as i64 / 4 + 1024;
            } else {
                cache_write = system.len() as i64 / 4 + 1024;
                // Only Anthropic models offer the 1-hour TTL.
                if anthropic && self.rng.below(4) == 0 {
                    one_hour = cache_write;
                }
            }
        }
        let input_body = if embed {
            json!({"inputText": user, "dimensions": 1024})
        } else if anthropic && op.starts_with("Invoke") {
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
                   "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
                   "messages": [{"role": "user", "content": user}]})
        } else {
            json!({"system": [{"text": system}], "messages": [{"role": "user", "content": [{"text": user}]}],
                   "inferenceConfig": {"maxTokens": 4096, "temperature": 0.5}})
        };
        let converse_usage = {
            let mut u = json!({"inputTokens": in_tokens, "outputTokens": out_tokens,
                               "totalTokens": in_tokens + out_tokens + cache_read + cache_write,
                               "cacheReadInputTokens": cache_read, "cacheWriteInputTokens": cache_write});
            if cache_write > 0 {
                u["cacheDetails"] = json!([{"ttl": "1h", "inputTokens": one_hour}, {"ttl": "5m", "inputTokens": cache_write - one_hour}]);
            }
            u
        };
        let anthropic_usage = json!({"input_tokens": in_tokens, "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "cache_creation": {"ephemeral_5m_input_tokens": cache_write - one_hour, "ephemeral_1h_input_tokens": one_hour},
            "output_tokens": out_tokens});
        let output_body = match op {
            _ if embed => {
                json!({"embedding": [0.0123, -0.0456, 0.0789], "inputTextTokenCount": in_tokens})
            }
            "Converse" => {
                json!({"output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                                 "stopReason": "end_turn", "metrics": {"latencyMs": 800 + self.rng.below(4000)},
                                 "usage": converse_usage})
            }
            "ConverseStream" => {
                let mut ev = vec![json!({"messageStart": {"role": "assistant"}})];
                for chunk in chunks(&answer, 64) {
                    ev.push(json!({"contentBlockDelta": {"delta": {"text": chunk}, "contentBlockIndex": 0}}));
                }
                ev.push(json!({"contentBlockStop": {"contentBlockIndex": 0}}));
                ev.push(json!({"messageStop": {"stopReason": "end_turn"}}));
                ev.push(
                    json!({"metadata": {"usage": converse_usage, "metrics": {"latencyMs": 900}}}),
                );
                json!(ev)
            }
            "InvokeModel" if anthropic => {
                json!({"id": "msg_bdrk_01", "type": "message", "role": "assistant",
                "content": [{"type": "text", "text": answer}], "stop_reason": "end_turn", "usage": anthropic_usage})
            }
            "InvokeModel" => json!({"generation": answer, "prompt_token_count": in_tokens,
                "generation_token_count": out_tokens, "stop_reason": "stop"}),
            _ => {
                let mut ev = Vec::new();
                if anthropic {
                    ev.push(json!({"type": "message_start", "message": {"id": "msg_1", "role": "assistant", "usage": anthropic_usage}}));
                }
                for chunk in chunks(&answer, 48) {
                    ev.push(if anthropic {
                        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": chunk}})
                    } else {
                        json!({"generation": chunk, "stop_reason": null})
                    });
                }
                ev.push(json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                    "inputTokenCount": in_tokens, "outputTokenCount": out_tokens, "invocationLatency": 2100,
                    "firstByteLatency": 400, "cacheReadInputTokenCount": cache_read, "cacheWriteInputTokenCount": cache_write}}));
                json!(ev)
            }
        };
        rec["input"] = json!({"inputContentType": "application/json", "inputBodyJson": input_body,
            "inputTokenCount": in_tokens, "cacheReadInputTokenCount": cache_read, "cacheWriteInputTokenCount": cache_write});
        rec["output"] = if embed {
            json!({"outputContentType": "application/json", "outputBodyJson": output_body})
        } else {
            json!({"outputContentType": "application/json", "outputBodyJson": output_body, "outputTokenCount": out_tokens})
        };
        SynthRecord {
            json: rec.to_string(),
            event_ms: ts,
            account: acct,
            region,
        }
    }
}

/// One generated record.
#[derive(Debug, Clone)]
pub struct SynthRecord {
    pub json: String,
    pub event_ms: i64,
    pub account: String,
    pub region: &'static str,
}

fn chunks(s: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + n).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        out.push(&s[start..end]);
        start = end;
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` (Bedrock logs second precision).
pub fn rfc3339_seconds(secs: i64) -> String {
    let ms = spendguard_schemas::time::format_rfc3339_ms(secs * 1000);
    format!("{}Z", &ms[..19])
}

/// A CloudWatch Logs DATA_MESSAGE envelope (JSON text) over `events` (message, ts).
pub fn envelope_json(owner: &str, events: &[(String, i64)], first_id: u64) -> String {
    let log_events: Vec<_> = events
        .iter()
        .enumerate()
        .map(|(i, (m, ts))| json!({"id": format!("{:056}", first_id + i as u64), "timestamp": ts, "message": m}))
        .collect();
    json!({"messageType": "DATA_MESSAGE", "owner": owner, "logGroup": "/aws/bedrock/modelinvocations",
           "logStream": "aws/bedrock/modelinvocations", "subscriptionFilters": ["spendguard"],
           "logEvents": log_events})
    .to_string()
}

/// gzip at level 6, as CloudWatch Logs delivers.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// A synthetic corpus of gzip envelopes, as Kinesis/Firehose records would carry them.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub envelopes_gz: Vec<Vec<u8>>,
    pub decompressed_bytes: usize,
    pub invocations: usize,
}

/// Generates `spec.invocations` records grouped into envelopes of 50-500 events, each capped at
/// about 2.5 MB of envelope JSON (a CloudWatch batch is at most 1 MiB of raw events; escaping
/// the messages as strings grows them).
pub fn corpus(spec: Spec) -> Corpus {
    let mut g = Generator::new(spec.clone());
    let mut rng = Rng::new(spec.seed.wrapping_add(7));
    let mut out = Corpus {
        envelopes_gz: Vec::new(),
        decompressed_bytes: 0,
        invocations: spec.invocations,
    };
    let mut left = spec.invocations;
    let mut id = 0u64;
    while left > 0 {
        let want = (50 + rng.below(451)).min(left);
        let mut events = Vec::with_capacity(want);
        let mut bytes = 0usize;
        while events.len() < want && bytes < 1_000_000 {
            let (m, ts) = g.next_record();
            bytes += m.len();
            events.push((m, ts));
        }
        left -= events.len();
        let env = envelope_json(ACCOUNTS[0], &events, id);
        id += events.len() as u64;
        out.decompressed_bytes += env.len();
        out.envelopes_gz.push(gzip(env.as_bytes()));
    }
    out
}
