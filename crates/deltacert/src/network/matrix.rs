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

/// Dot product of two vectors of the same length (a length mismatch is a
/// bug in the caller, never user input: every set and network is validated).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "dot product of vectors of different lengths");
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
