//! Throughput of the corruption suite, each figure against a baseline measured
//! in the same run (`cargo xtask bench corrupt` prints the ratios, and times the
//! Python `imagecorruptions` package on the same images when it is installed).
//!
//! * `all_19x5`: every corruption at every severity on the four reference
//!   photographs (one sweep = 380 images), rayon across images — against the
//!   same sweep on one thread;
//! * `gaussian_224`: the separable Gaussian blur (σ = 3) of a 224×224 plane —
//!   against the direct 2-D correlation with the same kernel.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use image::RgbImage;
use nyquist_corrupt::filter::{filter2d, gaussian, gaussian_kernel, Border};
use nyquist_corrupt::{corrupt, Corruption};
use rayon::prelude::*;

fn inputs() -> Vec<RgbImage> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/inputs");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("inputs")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v.iter()
        .map(|p| image::open(p).expect("image").to_rgb8())
        .collect()
}

fn sweep(imgs: &[RgbImage], parallel: bool) -> usize {
    let jobs: Vec<(usize, Corruption, u8)> = (0..imgs.len())
        .flat_map(|i| Corruption::all().flat_map(move |c| (1..=5u8).map(move |s| (i, c, s))))
        .collect();
    let run = |&(i, c, s): &(usize, Corruption, u8)| {
        corrupt(&imgs[i], c, s, i as u64).expect("corrupt").width() as usize
    };
    if parallel {
        jobs.par_iter().map(run).sum()
    } else {
        jobs.iter().map(run).sum()
    }
}

fn bench(c: &mut Criterion) {
    let imgs = inputs();
    sweep(&imgs, true); // warm the frost cache
    let mut g = c.benchmark_group("all_19x5");
    g.sample_size(10);
    g.bench_function("one_thread", |b| b.iter(|| sweep(&imgs, false)));
    g.bench_function("rayon", |b| b.iter(|| sweep(&imgs, true)));
    g.finish();

    let plane: Vec<f64> = (0..224 * 224).map(|i| ((i * 7919) % 255) as f64).collect();
    let k = gaussian_kernel(3.0, 4.0);
    let k2: Vec<f64> = k
        .iter()
        .flat_map(|a| k.iter().map(move |b| a * b))
        .collect();
    let mut g = c.benchmark_group("gaussian_224");
    g.bench_function("direct_2d", |b| {
        b.iter(|| filter2d(&plane, 224, 224, &k2, k.len(), k.len()))
    });
    g.bench_function("separable", |b| {
        b.iter(|| gaussian(&plane, 224, 224, [3.0, 3.0], Border::Nearest, 4.0))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
