//! A small dense row-major matrix: what the IR stores for every affine map.

use serde::Serialize;

/// Dense `rows x cols` matrix, row-major.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix {
    /// Number of rows (outputs of the map).
    pub rows: usize,
    /// Number of columns (inputs of the map).
    pub cols: usize,
    /// Entries, row-major: entry `(r, c)` is `data[r * cols + c]`.
    pub data: Vec<f64>,
}

impl Matrix {
    /// A zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix { rows, cols, data: vec![0.0; rows * cols] }
    }
    /// The identity of size `n`.
    pub fn identity(n: usize) -> Self {
        let mut m = Matrix::zeros(n, n);
        for i in 0..n {
            m.data[i * n + i] = 1.0;
        }
        m
    }
    /// Builds from row-major data; `data.len()` must equal `rows * cols`.
    pub fn from_rows(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix data length");
        Matrix { rows, cols, data }
    }
    /// Entry `(r, c)`.
    #[inline]
    pub fn get(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }
    /// Mutable entry `(r, c)`.
    #[inline]
    pub fn get_mut(&mut self, r: usize, c: usize) -> &mut f64 {
        &mut self.data[r * self.cols + c]
    }
    /// Row `r` as a slice.
    #[inline]
    pub fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
    /// `out += self * x`.
    pub fn mul_vec_add(&self, x: &[f64], out: &mut [f64]) {
        debug_assert_eq!(x.len(), self.cols);
        for (r, o) in out.iter_mut().enumerate() {
            *o += dot(self.row(r), x);
        }
    }
    /// `out += self^T * y`.
    pub fn mul_transpose_vec_add(&self, y: &[f64], out: &mut [f64]) {
        for (r, &yr) in y.iter().enumerate() {
            if yr != 0.0 {
                for (o, w) in out.iter_mut().zip(self.row(r)) {
                    *o += yr * w;
                }
            }
        }
    }
    /// `self * other` (faer's blocked product; its rounding error obeys the
    /// same `gamma_n |A| |B|` bound as the plain loop, whatever the order).
    pub fn matmul(&self, other: &Matrix) -> Matrix {
        let mut out = Matrix::zeros(self.rows, other.cols);
        self.matmul_into(other, &mut out, false);
        out
    }
    /// `into = self * other`, or `into += self * other` when `accumulate`.
    pub fn matmul_into(&self, other: &Matrix, into: &mut Matrix, accumulate: bool) {
        assert_eq!(self.cols, other.rows, "matmul shapes");
        assert!(into.rows == self.rows && into.cols == other.cols, "matmul output shape");
        if self.rows == 0 || other.cols == 0 {
            return;
        }
        if self.cols == 0 {
            if !accumulate {
                into.data.iter_mut().for_each(|v| *v = 0.0);
            }
            return;
        }
        let lhs = faer::MatRef::from_row_major_slice(&self.data, self.rows, self.cols);
        let rhs = faer::MatRef::from_row_major_slice(&other.data, other.rows, other.cols);
        let dst = faer::MatMut::from_row_major_slice_mut(&mut into.data, self.rows, other.cols);
        let mode = if accumulate { faer::Accum::Add } else { faer::Accum::Replace };
        faer::linalg::matmul::matmul(dst, mode, lhs, rhs, 1.0, faer::Par::Seq);
    }
    /// The transpose.
    pub fn transpose(&self) -> Matrix {
        let mut t = Matrix::zeros(self.cols, self.rows);
        for r in 0..self.rows {
            for c in 0..self.cols {
                t.data[c * self.rows + r] = self.data[r * self.cols + c];
            }
        }
        t
    }
    /// Keeps only the rows listed in `rows` (in that order).
    pub fn select_rows(&self, rows: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(rows.len() * self.cols);
        for &r in rows {
            data.extend_from_slice(self.row(r));
        }
        Matrix::from_rows(rows.len(), self.cols, data)
    }
    /// Keeps only the columns listed in `cols` (in that order).
    pub fn select_cols(&self, cols: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(self.rows * cols.len());
        for r in 0..self.rows {
            let row = self.row(r);
            data.extend(cols.iter().map(|&c| row[c]));
        }
        Matrix::from_rows(self.rows, cols.len(), data)
    }
}

/// Independent partial sums of [`dot`]: one left-to-right sum is a chain of
/// dependent additions the compiler may not reorder (float addition is not
/// associative), so it runs at one addition per latency; eight chains run
/// in vector registers. Measured on MNIST 3x100 (one propagation pass with
/// the attack's 2,577 evaluations and gradients, `cargo bench -p
/// deltacert-cli --bench floor`): docs/benchmarks.md, "dot product".
const DOT_LANES: usize = 8;

/// Dot product of two vectors of the same length (a length mismatch is a
/// bug in the caller, never user input: every set and network is validated).
///
/// The terms are summed in [`DOT_LANES`] interleaved partial sums, then the
/// sums and the tail. Any order of summation obeys the same rounding bound,
/// `|computed - exact| <= gamma_n sum |a_i b_i|` (docs/method.md §11), which
/// is all the bounds assume; a witness's error is re-evaluated rigorously.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "dot product of vectors of different lengths");
    let (chunks_a, chunks_b) = (a.chunks_exact(DOT_LANES), b.chunks_exact(DOT_LANES));
    let tail: f64 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| x * y).sum();
    let mut lanes = [0.0f64; DOT_LANES];
    for (x, y) in chunks_a.zip(chunks_b) {
        for lane in 0..DOT_LANES {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every length around the lane count (empty, tail only, lanes only,
    /// both): integer terms are summed exactly in any order, so the result
    /// must equal the exact sum; random terms must stay within the rounding
    /// bound `gamma_n sum |a_i b_i|` of a compensated (Neumaier) sum.
    #[test]
    fn dot_is_exact_on_integers_and_within_the_rounding_bound() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for n in 0..=3 * DOT_LANES + 1 {
            let a: Vec<f64> = (0..n).map(|_| rng.gen_range(-1000i64..1000) as f64).collect();
            let b: Vec<f64> = (0..n).map(|_| rng.gen_range(-1000i64..1000) as f64).collect();
            let exact: i64 = a.iter().zip(&b).map(|(x, y)| (*x as i64) * (*y as i64)).sum();
            assert_eq!(dot(&a, &b), exact as f64, "length {n}");
            let a: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0) * 10f64.powi(rng.gen_range(-8..8))).collect();
            let b: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let (mut sum, mut compensation) = (0.0f64, 0.0f64);
            for (x, y) in a.iter().zip(&b) {
                // the product's own rounding error, exactly (fused multiply-add)
                let p = x * y;
                for term in [p, x.mul_add(*y, -p)] {
                    let t = sum + term;
                    compensation += if sum.abs() >= term.abs() { (sum - t) + term } else { (term - t) + sum };
                    sum = t;
                }
            }
            let reference = sum + compensation;
            let magnitude: f64 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
            let u = f64::EPSILON / 2.0;
            let gamma = n as f64 * u / (1.0 - n as f64 * u);
            assert!((dot(&a, &b) - reference).abs() <= gamma * magnitude * 1.01 + 4.0 * u * reference.abs(), "length {n}");
        }
        assert!(dot(&[f64::NAN, 1.0], &[1.0, 1.0]).is_nan());
    }
}
