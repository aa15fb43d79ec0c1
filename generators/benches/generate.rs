//! Generation speed: persons per second, single-threaded.
//!
//! Run: `cargo bench -p iplos-generators --bench generate`. The `nation` benchmark generates
//! every kommune of 2024 one after the other (≈ 400 000 persons, with both messages); set
//! `IPLOS_BENCH_NATION=0` to skip it.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::municipality::{lookup, municipalities};

fn bench(c: &mut Criterion) {
    let cfg = GenConfig::default();
    let mut g = c.benchmark_group("generate");
    g.sample_size(10);
    for (nr, scale) in [("4601", 1.0), ("1151", 1.0)] {
        let m = lookup(2024, nr).expect("kommune");
        let n = generate_kommune(2024, m, &GenConfig::with_scale(scale), 1)
            .expect("generate")
            .persons
            .len();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{nr} ({n} persons)"), |b| {
            b.iter(|| {
                generate_kommune(2024, m, &GenConfig::with_scale(scale), 1).expect("generate")
            })
        });
    }
    if std::env::var("IPLOS_BENCH_NATION").as_deref() != Ok("0") {
        let all = municipalities(2024).expect("2024");
        let n: usize = all
            .iter()
            .map(|m| {
                generate_kommune(2024, m, &cfg, 1)
                    .expect("generate")
                    .persons
                    .len()
            })
            .sum();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("nation 2024 ({n} persons)"), |b| {
            b.iter(|| {
                for m in all {
                    std::hint::black_box(generate_kommune(2024, m, &cfg, 1).expect("generate"));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
