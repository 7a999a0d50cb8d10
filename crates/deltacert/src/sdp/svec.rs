//! Clarabel's packing of a symmetric matrix for its PSD cone: the upper
//! triangle column by column, off-diagonal entries scaled by `sqrt(2)` (so
//! that `<svec(A), svec(B)> = trace(A B)`).

/// Position of entry `(row, col)`, `row <= col`, in the packed vector.
#[inline]
pub fn index(row: usize, col: usize) -> usize {
    debug_assert!(row <= col);
    col * (col + 1) / 2 + row
}

/// Scale applied to entry `(row, col)` when packing.
#[inline]
pub fn scale(row: usize, col: usize) -> f64 {
    if row == col { 1.0 } else { std::f64::consts::SQRT_2 }
}

/// Length of the packed vector of a `dim x dim` matrix.
pub fn packed_len(dim: usize) -> usize {
    dim * (dim + 1) / 2
}

/// Packs a dense symmetric matrix (row-major, `dim x dim`).
pub fn pack(dense: &[f64], dim: usize) -> Vec<f64> {
    let mut out = vec![0.0; packed_len(dim)];
    for col in 0..dim {
        for row in 0..=col {
            out[index(row, col)] = dense[row * dim + col] * scale(row, col);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_preserves_the_trace_inner_product() {
        let dim = 4;
        let a: Vec<f64> = (0..16).map(|i| ((i / 4) as f64 + 1.0) * ((i % 4) as f64 + 1.0)).collect(); // symmetric
        let b: Vec<f64> = (0..16).map(|i| if i / 4 == i % 4 { 2.0 } else { ((i / 4) + (i % 4)) as f64 * 0.5 }).collect();
        let trace: f64 = (0..4).map(|r| (0..4).map(|c| a[r * 4 + c] * b[c * 4 + r]).sum::<f64>()).sum();
        let (pa, pb) = (pack(&a, dim), pack(&b, dim));
        let inner: f64 = pa.iter().zip(&pb).map(|(x, y)| x * y).sum();
        assert!((trace - inner).abs() < 1e-12 * trace.abs());
        assert_eq!(index(0, 0), 0);
        assert_eq!(index(0, 1), 1);
        assert_eq!(index(1, 1), 2);
        assert_eq!(index(2, 3), 8);
    }
}
