//! Micro-benchmarks of parse + decide (`cargo bench --bench engine`): a typical response (the
//! Face Capture v1a seed sample), and a 3 MB ID Recognition response carrying two document
//! pages, with and without decoding the images. BENCHMARKS.md quotes the figures.

// A benchmark, like a test, may panic on a broken fixture: that is a failed run, not a lost
// verdict.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use zoloz_verdict::domain::{Policy, Product, evaluate};
use zoloz_verdict::zoloz::products::parse;

const TYPICAL: &[u8] = include_bytes!("../tests/fixtures/seeds/facecapture-v1a.response.json");
const APPROVED_ID: &[u8] = include_bytes!("../tests/fixtures/idrecognition-approved.json");

/// The approved ID Recognition fixture with two ~1.5 MB Base64 pages (about 3 MB in all).
fn large_body() -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut page = || {
        let bytes: Vec<u8> = (0..1_150_000)
            .map(|_| {
                // xorshift: incompressible, deterministic bytes standing in for a JPEG.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        STANDARD.encode(bytes)
    };
    let mut body: serde_json::Value = serde_json::from_slice(APPROVED_ID).expect("fixture");
    body["extInfo"]["imageContent"] = serde_json::json!([page(), page()]);
    serde_json::to_vec(&body).expect("serializes")
}

fn benches(c: &mut Criterion) {
    let policy = Policy::default_table();

    let mut group = c.benchmark_group("parse+evaluate");
    group.throughput(Throughput::Bytes(TYPICAL.len() as u64));
    group.bench_function("typical face capture v1a (498 B)", |b| {
        b.iter(|| {
            let parsed = parse(Product::FaceCapture, black_box(TYPICAL), false).expect("parses");
            evaluate(&parsed.facts, &policy).expect("verdict")
        })
    });

    let large = large_body();
    group.throughput(Throughput::Bytes(large.len() as u64));
    group.sample_size(30);
    group.bench_function("3 MB id recognition, images not asked for", |b| {
        b.iter(|| {
            let parsed = parse(Product::IdRecognition, black_box(&large), false).expect("parses");
            evaluate(&parsed.facts, &policy).expect("verdict")
        })
    });
    group.bench_function("3 MB id recognition, images decoded", |b| {
        b.iter(|| {
            let parsed = parse(Product::IdRecognition, black_box(&large), true).expect("parses");
            assert_eq!(parsed.images.len(), 2);
            evaluate(&parsed.facts, &policy).expect("verdict")
        })
    });
    group.finish();

    let facts = parse(Product::FaceCapture, TYPICAL, false)
        .expect("parses")
        .facts;
    c.bench_function("evaluate only (typical facts)", |b| {
        b.iter(|| evaluate(black_box(&facts), &policy).expect("verdict"))
    });
}

criterion_group!(engine, benches);
criterion_main!(engine);
