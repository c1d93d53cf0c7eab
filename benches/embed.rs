//! The matmul floor of sentence embedding on this machine.
//!
//! The model's cost is almost all GEMM. This bench runs candle's GEMM (the kernels the embedder
//! uses) on the dense layers of one BERT layer for a batch of 2,048 tokens (the embedder's batch
//! size), inside a rayon pool of 1 and of 2 threads, as the embedding pool runs it. Criterion's
//! throughput is in FLOP/s. The floor in tokens per second is that rate divided by the model's
//! FLOPs per token, which the bench prints first (from `$DEEPVAULT_TEST_MODEL/config.json` when
//! set, else all-MiniLM-L6-v2's shape: hidden 384, FFN 1,536, 6 layers).
//! `docs/benchmarks/embedding.md` compares the embedder's measured tokens/s with it.

use candle_core::{Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TOKENS: usize = 2048;

/// (hidden, intermediate, layers) of the model.
fn shape() -> (usize, usize, usize) {
    let from_model = std::env::var_os("DEEPVAULT_TEST_MODEL").and_then(|dir| {
        let text = std::fs::read_to_string(std::path::Path::new(&dir).join("config.json")).ok()?;
        let config: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some((
            config["hidden_size"].as_u64()? as usize,
            config["intermediate_size"].as_u64()? as usize,
            config["num_hidden_layers"].as_u64()? as usize,
        ))
    });
    from_model.unwrap_or((384, 1536, 6))
}

/// FLOPs per token for sequences of `seq` tokens: dense layers (QKV, attention output, FFN in
/// and out) at two per multiply-add, plus the two attention matmuls.
fn flops_per_token(hidden: usize, intermediate: usize, layers: usize, seq: usize) -> f64 {
    let (h, i) = (hidden as f64, intermediate as f64);
    let dense = 2.0 * (3.0 * h * h + h * h + 2.0 * h * i);
    let attention = 2.0 * 2.0 * seq as f64 * h;
    layers as f64 * (dense + attention)
}

fn bench_gemm(c: &mut Criterion) {
    let (hidden, intermediate, layers) = shape();
    for seq in [64, 128, 256] {
        eprintln!(
            "model: hidden {hidden}, FFN {intermediate}, {layers} layers: {:.1} MFLOP per token at {seq} tokens a sequence",
            flops_per_token(hidden, intermediate, layers, seq) / 1e6
        );
    }
    let device = Device::Cpu;
    let x = Tensor::randn(0f32, 1.0, (TOKENS, hidden), &device).unwrap();
    let inner = Tensor::randn(0f32, 1.0, (TOKENS, intermediate), &device).unwrap();
    let weights = [
        Tensor::randn(0f32, 0.05, (hidden, 3 * hidden), &device).unwrap(),
        Tensor::randn(0f32, 0.05, (hidden, hidden), &device).unwrap(),
        Tensor::randn(0f32, 0.05, (hidden, intermediate), &device).unwrap(),
    ];
    let ffn_out = Tensor::randn(0f32, 0.05, (intermediate, hidden), &device).unwrap();
    let flops = 2.0
        * TOKENS as f64
        * (hidden * 3 * hidden + hidden * hidden + hidden * intermediate + intermediate * hidden)
            as f64;
    let mut group = c.benchmark_group("gemm");
    group.throughput(Throughput::Elements(flops as u64));
    group.sample_size(20);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        group.bench_function(format!("bert-layer-dense/{threads}-threads"), |b| {
            b.iter(|| {
                pool.install(|| {
                    for w in &weights {
                        std::hint::black_box(x.matmul(w).unwrap());
                    }
                    std::hint::black_box(inner.matmul(&ffn_out).unwrap());
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_gemm);
criterion_main!(benches);
