//! `cty_fuzz`: a mutation fuzzer for the cty msgpack and JSON decoders (cargo-fuzz needs a
//! nightly toolchain; this needs nothing). A development tool, not part of the provider.
//!
//! ```text
//! cargo run --release -p tfplugin-runtime --example cty_fuzz -- [SECONDS=60] [SEED]
//! ```
//!
//! It keeps a corpus of valid encodings of random typed values (from `cty::testing`), mutates
//! them byte-wise (flips, interesting bytes and lengths, inserts, deletes, splices, truncation),
//! also throws pure random bytes, and feeds everything to `from_msgpack` / `from_json` with the
//! matching type or a random one. Each decode runs under `catch_unwind`. Beyond "no panic" it
//! checks that whatever decodes is canonical: it encodes again and decodes to itself. It prints
//! iterations per second as it goes, and any panic or violation with the input in hex; the exit
//! status is 1 if there was any.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tfplugin_runtime::cty::testing::{arbitrary_type, arbitrary_typed_value, Entropy};
use tfplugin_runtime::cty::{from_json, from_msgpack, to_json, to_msgpack, CtyError, Type, Value};

/// xorshift64*: small, fast and good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

/// msgpack markers and values that steer decoders into interesting corners.
const INTERESTING_BYTES: [u8; 24] = [
    0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x92, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc7,
    0xcb, 0xd4, 0xd9, 0xdc, 0xdd, 0xdf, 0xff, 0x0c,
];
const INTERESTING_U32: [u32; 6] = [0, 1, 0x7f, 0x100, 0x7fff_ffff, 0xffff_ffff];
const JSON_TOKENS: [&str; 14] = [
    "[",
    "]",
    "{",
    "}",
    "\"",
    "\\u",
    "\\ud800",
    ",",
    ":",
    "null",
    "1e4097",
    "-0.0e-0",
    "\"type\":\"dynamic\"",
    "\"value\":",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, donor: &[u8], json: bool) {
    for _ in 0..=rng.below(6) {
        let at = rng.below(input.len() + 1);
        match rng.below(if json { 10 } else { 9 }) {
            0 if at < input.len() => input[at] ^= 1 << rng.below(8),
            1 if at < input.len() => input[at] = rng.bytes(1)[0],
            2 if at < input.len() => {
                input[at] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            3 => {
                let n = 1 + rng.below(4);
                let bytes = rng.bytes(n);
                input.splice(at..at, bytes);
            }
            4 if at < input.len() => {
                let end = (at + 1 + rng.below(8)).min(input.len());
                input.drain(at..end);
            }
            5 => input.truncate(at),
            6 if at + 4 <= input.len() => {
                let value = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
                let bytes = if rng.below(2) == 0 {
                    value.to_be_bytes().to_vec()
                } else {
                    u16::try_from(value & 0xffff)
                        .unwrap_or(0)
                        .to_be_bytes()
                        .to_vec()
                };
                input.splice(at..at + bytes.len(), bytes);
            }
            7 if !donor.is_empty() => {
                let from = rng.below(donor.len());
                let end = (from + 1 + rng.below(32)).min(donor.len());
                input.splice(at..at, donor[from..end].iter().copied());
            }
            8 if at < input.len() => {
                // Duplicate a chunk in place.
                let end = (at + 1 + rng.below(16)).min(input.len());
                let chunk = input[at..end].to_vec();
                input.splice(at..at, chunk);
            }
            9 => {
                let token = JSON_TOKENS[rng.below(JSON_TOKENS.len())];
                input.splice(at..at, token.bytes());
            }
            _ => {}
        }
    }
}

struct Entry {
    ty: Type,
    msgpack: Vec<u8>,
    json: Option<Vec<u8>>,
}

#[derive(Default)]
struct Stats {
    iterations: u64,
    decoded: u64,
    failures: u64,
    slowest: Duration,
    /// The slowest input: decoder, type JSON, bytes.
    slowest_input: Option<(String, String, Vec<u8>)>,
}

/// Decodes under `catch_unwind` and checks that a successful decode is canonical.
fn check(
    stats: &mut Stats,
    last_panic: &Mutex<Option<String>>,
    what: &str,
    input: &[u8],
    ty: &Type,
    decode: fn(&[u8], &Type) -> Result<Value, CtyError>,
) {
    stats.iterations += 1;
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let value = decode(input, ty).ok()?;
        let again = to_msgpack(&value, ty)
            .and_then(|bytes| from_msgpack(&bytes, ty))
            .map_err(|e| e.to_string());
        Some((value, again))
    }));
    let elapsed = start.elapsed();
    if elapsed > stats.slowest {
        stats.slowest = elapsed;
        stats.slowest_input = Some((what.to_owned(), ty.to_json().to_string(), input.to_vec()));
    }
    let problem = match outcome {
        Err(_) => Some(format!(
            "PANIC: {}",
            last_panic
                .lock()
                .ok()
                .and_then(|mut p| p.take())
                .unwrap_or_default()
        )),
        Ok(None) => None,
        Ok(Some((value, Ok(again)))) if again == value => {
            stats.decoded += 1;
            None
        }
        Ok(Some((value, again))) => Some(format!(
            "NOT CANONICAL: decoded {value:?}, re-decoded {again:?}"
        )),
    };
    if let Some(problem) = problem {
        stats.failures += 1;
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        eprintln!("{what} {problem}\n  type: {}\n  input: {hex}", ty.to_json());
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    }) | 1;
    println!("cty_fuzz: {seconds} s, seed {seed}");

    // Remember the panic message instead of letting the default hook print a backtrace.
    let last_panic = Arc::new(Mutex::new(None::<String>));
    {
        let last_panic = Arc::clone(&last_panic);
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut slot) = last_panic.lock() {
                *slot = Some(info.to_string());
            }
        }));
    }

    let mut rng = Rng(seed);
    let mut corpus: Vec<Entry> = Vec::new();
    let mut stats = Stats::default();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut next_report = start + Duration::from_secs(10);
    let mut last_iterations = 0;
    let mut last_report = start;

    while Instant::now() < deadline {
        for _ in 0..256 {
            let choice = rng.below(100);
            if corpus.is_empty() || choice < 5 {
                let seed_bytes = rng.bytes(400);
                let (ty, value) = arbitrary_typed_value(&seed_bytes, rng.below(2) == 0);
                let Ok(msgpack) = to_msgpack(&value, &ty) else {
                    eprintln!("generated value does not encode: {:?}", ty.to_json());
                    stats.failures += 1;
                    continue;
                };
                let json = to_json(&value, &ty).ok();
                let entry = Entry { ty, msgpack, json };
                if corpus.len() < 512 {
                    corpus.push(entry);
                } else {
                    let slot = rng.below(corpus.len());
                    corpus[slot] = entry;
                }
                continue;
            }
            let entry = &corpus[rng.below(corpus.len())];
            let donor = &corpus[rng.below(corpus.len())].msgpack;
            // Usually the entry's own type; sometimes a random one.
            let other_type;
            let ty = if rng.below(10) == 0 {
                other_type = arbitrary_type(&mut Entropy::new(&rng.bytes(32)), 4);
                &other_type
            } else {
                &entry.ty
            };
            if choice < 70 {
                let mut input = entry.msgpack.clone();
                mutate(&mut rng, &mut input, donor, false);
                check(&mut stats, &last_panic, "msgpack", &input, ty, from_msgpack);
            } else if choice < 92 {
                let mut input = entry.json.clone().unwrap_or_else(|| b"null".to_vec());
                mutate(&mut rng, &mut input, donor, true);
                check(&mut stats, &last_panic, "json", &input, ty, from_json);
            } else {
                let n = rng.below(64);
                let input = rng.bytes(n);
                check(&mut stats, &last_panic, "msgpack", &input, ty, from_msgpack);
                check(&mut stats, &last_panic, "json", &input, ty, from_json);
            }
        }
        let now = Instant::now();
        if now >= next_report {
            let rate = (stats.iterations - last_iterations) as f64
                / now.duration_since(last_report).as_secs_f64();
            println!(
                "{:>5.0} s  {:>11} inputs  {:>9.0}/s  {:>9} decoded  {} failures  slowest {:?}",
                now.duration_since(start).as_secs_f64(),
                stats.iterations,
                rate,
                stats.decoded,
                stats.failures,
                stats.slowest,
            );
            last_iterations = stats.iterations;
            last_report = now;
            next_report = now + Duration::from_secs(10);
        }
    }

    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "done: {} inputs in {elapsed:.1} s ({:.0}/s), {} decoded and canonical, {} failures, \
         slowest decode {:?}, corpus {}",
        stats.iterations,
        stats.iterations as f64 / elapsed,
        stats.decoded,
        stats.failures,
        stats.slowest,
        corpus.len()
    );
    if let Some((what, ty, input)) = &stats.slowest_input {
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        println!("slowest input ({what}, type {ty}): {hex}");
    }
    if stats.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
