//! The element-wise steps of the BERT forward pass, as in-place candle ops of our own.
//!
//! Why not candle's `+`, `gelu_erf` and `softmax`:
//!
//! - **Threads.** candle runs element-wise ops over 64 Ki elements or more on a process-wide
//!   "barrier pool" of spinning threads, sized once from `CANDLE_NUM_THREADS` and bounded by
//!   nothing we own. These kernels run on the *current* rayon pool instead (the embedding pool
//!   or the query pool), like candle's matmul does, so `pool.install` bounds every thread the
//!   model uses and the barrier pool is never created. Setting `CANDLE_NUM_THREADS` instead
//!   would need `std::env::set_var`, which is unsafe in this edition and unsound once other
//!   threads run; a test checks that no `candle-bp` thread ever starts.
//! - **Speed.** candle's GELU and softmax call scalar `erff`/`expf` per element (~15 % of the
//!   model's CPU time). These use polynomial approximations LLVM vectorises (erf: the rational
//!   approximation Eigen uses, max error 4e-7; exp: Cephes-style, relative error 2e-7), compiled
//!   for AVX2+FMA and picked at run time through `pulp`, so no `unsafe` is ours. Bias, residual
//!   and LayerNorm are fused: one pass over the activations instead of three.

use candle_core::{CpuStorage, InplaceOp1, InplaceOp2, Layout, Result, Tensor, bail};
use rayon::prelude::*;

/// Rows per parallel task: big enough to amortise the dispatch, small enough to balance.
const TASK_ELEMENTS: usize = 16 * 1024;

/// Runs `f` with the best SIMD instruction set this CPU has (AVX2+FMA on x86-64 when present).
struct Vectorized<F>(F);

impl<R, F: FnOnce() -> R> pulp::WithSimd for Vectorized<F> {
    type Output = R;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> R {
        (self.0)()
    }
}

#[inline(always)]
fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(Vectorized(f))
}

#[inline(always)]
fn erf_approx(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906e-4;
    p = p * x2 - 2.954_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_473_9e-2;
    x * p / q
}

#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 · 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5e-1;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// A reduction with eight lanes, so LLVM vectorises it without reassociating floats.
#[inline(always)]
fn reduce8(x: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for v in chunks {
        for i in 0..8 {
            acc[i] = f(acc[i], v[i]);
        }
    }
    let mut r = acc.iter().fold(init, |a, &b| f(a, b));
    for &v in rest {
        r = f(r, v);
    }
    r
}

/// Σ x², with eight lanes.
#[inline(always)]
fn sum_squares8(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for v in chunks {
        for i in 0..8 {
            acc[i] += v[i] * v[i];
        }
    }
    acc.iter().sum::<f32>() + rest.iter().map(|v| v * v).sum::<f32>()
}

#[inline(always)]
fn gelu_rows(x: &mut [f32]) {
    for v in x {
        *v = 0.5 * *v * (1.0 + erf_approx(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

#[inline(always)]
fn add_bias_rows(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// `x = LayerNorm(x + residual)`, row by row.
#[inline(always)]
fn add_layer_norm_rows(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let dim = gamma.len();
    let inv_dim = 1.0 / dim as f32;
    for (row, res) in x.chunks_exact_mut(dim).zip(residual.chunks_exact(dim)) {
        for (v, r) in row.iter_mut().zip(res) {
            *v += r;
        }
        let mean = reduce8(row, 0.0, |a, b| a + b) * inv_dim;
        for v in row.iter_mut() {
            *v -= mean;
        }
        let var = sum_squares8(row) * inv_dim;
        let inv_std = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = *v * inv_std * g + b;
        }
    }
}

/// Softmax over rows of `seq` scores after adding the key mask (`0` for tokens, a large negative
/// number for padding).
#[inline(always)]
fn masked_softmax_rows(x: &mut [f32], mask: &[f32]) {
    for row in x.chunks_exact_mut(mask.len()) {
        for (v, m) in row.iter_mut().zip(mask) {
            *v += m;
        }
        let max = reduce8(row, f32::NEG_INFINITY, |a, b| if b > a { b } else { a });
        for v in row.iter_mut() {
            *v = exp_approx(*v - max);
        }
        let inv = 1.0 / reduce8(row, 0.0, |a, b| a + b);
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// The contiguous f32 data of an op's tensor.
fn f32_data<'a>(storage: &'a mut CpuStorage, layout: &Layout, op: &str) -> Result<&'a mut [f32]> {
    let CpuStorage::F32(data) = storage else {
        bail!("{op}: only f32 tensors are supported")
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&mut data[start..end]),
        None => bail!("{op}: the tensor must be contiguous"),
    }
}

fn f32_source<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        bail!("{op}: only f32 tensors are supported")
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{op}: the tensor must be contiguous"),
    }
}

/// Splits `data` into tasks of whole rows and runs `f` on each, vectorised, on the current pool.
fn par_rows(data: &mut [f32], row: usize, f: impl Fn(&mut [f32], usize) + Sync) {
    let rows_per_task = (TASK_ELEMENTS / row.max(1)).max(1);
    data.par_chunks_mut(rows_per_task * row)
        .enumerate()
        .for_each(|(task, chunk)| vectorized(|| f(chunk, task * rows_per_task)));
}

struct Gelu;

impl InplaceOp1 for Gelu {
    fn name(&self) -> &'static str {
        "deepvault-gelu"
    }
    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let data = f32_data(storage, layout, self.name())?;
        par_rows(data, 1, |chunk, _| gelu_rows(chunk));
        Ok(())
    }
}

struct AddBias<'a>(&'a [f32]);

impl InplaceOp1 for AddBias<'_> {
    fn name(&self) -> &'static str {
        "deepvault-add-bias"
    }
    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let data = f32_data(storage, layout, self.name())?;
        if data.len() % self.0.len() != 0 {
            bail!("{}: rows do not match the bias", self.name());
        }
        par_rows(data, self.0.len(), |chunk, _| add_bias_rows(chunk, self.0));
        Ok(())
    }
}

struct AddLayerNorm<'a> {
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
}

impl InplaceOp2 for AddLayerNorm<'_> {
    fn name(&self) -> &'static str {
        "deepvault-add-layer-norm"
    }
    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        residual: &CpuStorage,
        residual_l: &Layout,
    ) -> Result<()> {
        let residual = f32_source(residual, residual_l, self.name())?;
        let data = f32_data(dst, dst_l, self.name())?;
        let dim = self.gamma.len();
        if data.len() != residual.len() || data.len() % dim != 0 {
            bail!("{}: shapes do not match", self.name());
        }
        par_rows(data, dim, |chunk, first_row| {
            let res = &residual[first_row * dim..first_row * dim + chunk.len()];
            add_layer_norm_rows(chunk, res, self.gamma, self.beta, self.eps)
        });
        Ok(())
    }
}

struct MaskedSoftmax<'a> {
    /// `[batch, seq]`: 0 for tokens, a large negative number for padding.
    mask: &'a [f32],
    seq: usize,
    /// Score rows per batch item: heads × seq.
    rows_per_item: usize,
}

impl InplaceOp1 for MaskedSoftmax<'_> {
    fn name(&self) -> &'static str {
        "deepvault-masked-softmax"
    }
    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let data = f32_data(storage, layout, self.name())?;
        let seq = self.seq;
        if data.len() != self.mask.len() / seq * self.rows_per_item * seq {
            bail!("{}: shapes do not match", self.name());
        }
        let rows_per_task = (TASK_ELEMENTS / seq).max(1);
        data.par_chunks_mut(rows_per_task * seq)
            .enumerate()
            .for_each(|(task, chunk)| {
                vectorized(|| {
                    let first = task * rows_per_task;
                    for (i, row) in chunk.chunks_exact_mut(seq).enumerate() {
                        let item = (first + i) / self.rows_per_item;
                        masked_softmax_rows(row, &self.mask[item * seq..(item + 1) * seq]);
                    }
                })
            });
        Ok(())
    }
}

/// Exact-erf GELU (BERT's `gelu`), in place; `x` must be contiguous.
pub(crate) fn gelu(x: &Tensor) -> Result<()> {
    x.inplace_op1(&Gelu)
}

/// `x[r, :] += bias` for every row, in place.
pub(crate) fn add_bias(x: &Tensor, bias: &[f32]) -> Result<()> {
    x.inplace_op1(&AddBias(bias))
}

/// `x = LayerNorm(x + residual)` over the last dimension, in place.
pub(crate) fn add_layer_norm(
    x: &Tensor,
    residual: &Tensor,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) -> Result<()> {
    x.inplace_op2(residual, &AddLayerNorm { gamma, beta, eps })
}

/// Softmax over the last dimension of attention scores `[batch, heads, seq, seq]` after adding
/// the key mask `[batch, seq]`, in place.
pub(crate) fn masked_softmax(
    scores: &Tensor,
    mask: &[f32],
    heads: usize,
    seq: usize,
) -> Result<()> {
    scores.inplace_op1(&MaskedSoftmax {
        mask,
        seq,
        rows_per_item: heads * seq,
    })
}

/// LayerNorm of plain rows (the embeddings, before they become a tensor).
pub(crate) fn layer_norm_rows(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let zeros = vec![0.0; x.len()];
    vectorized(|| add_layer_norm_rows(x, &zeros, gamma, beta, eps));
}

/// `a · b` (tests and checks).
#[cfg(test)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// Scores int8 rows (`dim` bytes each, one scale per row) against an f32 query into `out`.
pub(crate) fn score_i8_rows(query: &[f32], rows: &[i8], scales: &[f32], out: &mut [f32]) {
    let dim = query.len();
    vectorized(|| {
        for ((o, row), scale) in out.iter_mut().zip(rows.chunks_exact(dim)).zip(scales) {
            let mut acc = [0f32; 16];
            let cq = query.chunks_exact(16);
            let cr = row.chunks_exact(16);
            let (rq, rr) = (cq.remainder(), cr.remainder());
            for (x, y) in cq.zip(cr) {
                for i in 0..16 {
                    acc[i] += x[i] * y[i] as f32;
                }
            }
            let mut sum: f32 = acc.iter().sum();
            for (x, y) in rq.iter().zip(rr) {
                sum += x * *y as f32;
            }
            *o = sum * scale;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// erf in f64 from its series (|x| ≤ 3) or continued fraction: a reference only.
    fn erf_f64(x: f64) -> f64 {
        if x.abs() > 3.0 {
            let z = x.abs();
            let mut f = z;
            for k in (1..60).rev() {
                f = z + (k as f64 / 2.0) / f;
            }
            let erfc = (-z * z).exp() / (std::f64::consts::PI.sqrt() * f);
            return x.signum() * (1.0 - erfc);
        }
        let (mut sum, mut term, mut n) = (0.0, x, 0);
        while term.abs() > 1e-17 || n < 5 {
            sum += term / (2 * n + 1) as f64;
            n += 1;
            term *= -x * x / n as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_and_exp_are_accurate() {
        let (mut worst_erf, mut worst_exp) = (0f64, 0f64);
        for i in -60000..=60000 {
            let x = i as f32 / 10000.0;
            worst_erf = worst_erf.max((erf_approx(x) as f64 - erf_f64(x as f64)).abs());
            let e = x * 10.0;
            let reference = (e as f64).exp();
            worst_exp = worst_exp.max(((exp_approx(e) as f64 - reference) / reference).abs());
        }
        assert!(worst_erf < 1e-6, "erf error {worst_erf}");
        assert!(worst_exp < 1e-6, "exp error {worst_exp}");
    }

    fn tensor(data: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_slice(data, shape, &Device::Cpu).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    /// Each kernel against a plain scalar computation, on shapes that span several tasks.
    #[test]
    fn kernels_match_the_plain_formulas() {
        let n = 3 * TASK_ELEMENTS / 40 + 7;
        let dim = 40;
        let data: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
            .collect();

        let x = tensor(&data, &[n, dim]);
        gelu(&x).unwrap();
        for (got, v) in values(&x).iter().zip(&data) {
            let want = 0.5 * *v as f64 * (1.0 + erf_f64(*v as f64 / 2f64.sqrt()));
            assert!(
                (*got as f64 - want).abs() < 1e-5,
                "gelu({v}) = {got}, want {want}"
            );
        }

        let bias: Vec<f32> = (0..dim).map(|i| i as f32).collect();
        let x = tensor(&data, &[n, dim]);
        add_bias(&x, &bias).unwrap();
        for (i, got) in values(&x).iter().enumerate() {
            assert_eq!(*got, data[i] + bias[i % dim]);
        }

        let residual: Vec<f32> = data.iter().map(|v| v * 0.5 + 1.0).collect();
        let gamma: Vec<f32> = (0..dim).map(|i| 1.0 + i as f32 / 100.0).collect();
        let beta: Vec<f32> = (0..dim).map(|i| i as f32 / 10.0).collect();
        let x = tensor(&data, &[n, dim]);
        add_layer_norm(&x, &tensor(&residual, &[n, dim]), &gamma, &beta, 1e-12).unwrap();
        let got = values(&x);
        for r in 0..n {
            let row: Vec<f64> = (0..dim)
                .map(|j| (data[r * dim + j] + residual[r * dim + j]) as f64)
                .collect();
            let mean = row.iter().sum::<f64>() / dim as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / dim as f64;
            for j in 0..dim {
                let want =
                    (row[j] - mean) / (var + 1e-12).sqrt() * gamma[j] as f64 + beta[j] as f64;
                assert!((got[r * dim + j] as f64 - want).abs() < 1e-4);
            }
        }

        // Attention scores [batch 2, heads 3, seq 5, seq 5]; the second item has 2 padding keys.
        let (batch, heads, seq) = (2, 3, 5);
        let scores: Vec<f32> = (0..batch * heads * seq * seq)
            .map(|i| ((i * 13 % 29) as f32 - 14.0) / 3.0)
            .collect();
        let mut mask = vec![0.0f32; batch * seq];
        mask[seq + 3] = -1e30;
        mask[seq + 4] = -1e30;
        let x = tensor(&scores, &[batch, heads, seq, seq]);
        masked_softmax(&x, &mask, heads, seq).unwrap();
        let got = values(&x);
        for (r, row) in scores.chunks(seq).enumerate() {
            let item = r / (heads * seq);
            let m = &mask[item * seq..(item + 1) * seq];
            let exps: Vec<f64> = row
                .iter()
                .zip(m)
                .map(|(v, m)| ((v + m) as f64).exp())
                .collect();
            let total: f64 = exps.iter().sum();
            for j in 0..seq {
                assert!((got[r * seq + j] as f64 - exps[j] / total).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn int8_scores_are_dot_products_times_the_scale() {
        let dim = 40;
        let query: Vec<f32> = (0..dim).map(|i| (i as f32 - 20.0) / 20.0).collect();
        let rows: Vec<i8> = (0..3 * dim).map(|i| (i as i32 % 255 - 127) as i8).collect();
        let scales = [0.5f32, 0.25, 2.0];
        let mut out = [0f32; 3];
        score_i8_rows(&query, &rows, &scales, &mut out);
        for r in 0..3 {
            let want: f32 = (0..dim)
                .map(|j| query[j] * rows[r * dim + j] as f32)
                .sum::<f32>()
                * scales[r];
            assert!((out[r] - want).abs() < 1e-3, "{} vs {want}", out[r]);
        }
    }
}
