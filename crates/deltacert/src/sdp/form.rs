//! Linear forms and sparse symmetric quadratic forms over the lifted vector
//! `zeta`, each with a bound on its floating-point error.

use crate::propagation::rounding_gamma;
use crate::rounding::{add_up, mul_up};

/// A linear form `p(zeta) = sum_t coef_t zeta_t` (sparse, sorted by index).
/// `error` bounds `|p_computed(zeta) - p_exact(zeta)|` over the feasible set,
/// where `p_exact` is the form the real-arithmetic networks define.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinearForm {
    /// `(coordinate, coefficient)` pairs, sorted, no duplicates, no zeros.
    pub terms: Vec<(usize, f64)>,
    /// Bound on the rounding error of the form's value.
    pub error: f64,
}

impl LinearForm {
    /// The coordinate `zeta_index` itself (exact).
    pub fn coordinate(index: usize) -> Self {
        LinearForm { terms: vec![(index, 1.0)], error: 0.0 }
    }
    /// The zero form.
    pub fn zero() -> Self {
        LinearForm::default()
    }
    /// `sum_i weight_i form_i + constant * zeta_constant`, with the rounding of
    /// the coefficient arithmetic added to the error: a coefficient built from
    /// one exact product `w * (+-1)` is exact, otherwise its error is at most
    /// `gamma_{n+1} sum |w_i c_i|` for `n` contributions (Higham Thm 3.5).
    pub fn combine(parts: &[(f64, &LinearForm)], constant: f64, constant_index: usize, coordinate_magnitude: &[f64], dim: usize) -> Self {
        let mut values = vec![0.0; dim];
        let mut magnitudes = vec![0.0; dim];
        let mut counts = vec![0u32; dim];
        let mut inexact = vec![false; dim];
        let mut error = 0.0;
        for &(weight, form) in parts {
            if weight == 0.0 {
                continue;
            }
            if form.error != 0.0 {
                error = add_up(error, mul_up(weight.abs(), form.error));
            }
            for &(t, c) in &form.terms {
                values[t] += weight * c;
                magnitudes[t] = add_up(magnitudes[t], mul_up(weight.abs(), c.abs()));
                counts[t] += 1;
                inexact[t] |= c.abs() != 1.0;
            }
        }
        if constant != 0.0 {
            values[constant_index] += constant;
            magnitudes[constant_index] = add_up(magnitudes[constant_index], constant.abs());
            counts[constant_index] += 1;
        }
        let mut terms = Vec::new();
        for t in 0..dim {
            if counts[t] > 1 || inexact[t] {
                error = add_up(error, mul_up(mul_up(rounding_gamma(counts[t] as usize + 1), magnitudes[t]), coordinate_magnitude[t]));
            }
            if values[t] != 0.0 {
                terms.push((t, values[t]));
            }
        }
        if error > 0.0 {
            // every step above is rounded up; the floor covers products that underflow
            error = add_up(error, f64::MIN_POSITIVE);
        }
        LinearForm { terms, error }
    }
    /// `scale * self` (one rounding per coefficient unless `scale` is +-1 or 0).
    pub fn scaled(&self, scale: f64, coordinate_magnitude: &[f64]) -> Self {
        if scale == 0.0 {
            return LinearForm::zero();
        }
        let exact = scale.abs() == 1.0;
        let mut error = if self.error == 0.0 { 0.0 } else { mul_up(scale.abs(), self.error) };
        let terms = self
            .terms
            .iter()
            .map(|&(t, c)| {
                if !exact {
                    // fl(scale c) is within u |scale c| of the exact product; 2u covers it rounded
                    error = add_up(error, mul_up(mul_up(f64::EPSILON, mul_up(scale.abs(), c.abs())), coordinate_magnitude[t]));
                }
                (t, scale * c)
            })
            .collect();
        LinearForm { terms, error }
    }
    /// A bound on `|p(zeta)|` over the feasible set.
    pub fn magnitude(&self, coordinate_magnitude: &[f64]) -> f64 {
        let sum = self.terms.iter().fold(0.0, |sum, &(t, c)| add_up(sum, mul_up(c.abs(), coordinate_magnitude[t])));
        if self.error == 0.0 { sum } else { add_up(sum, self.error) }
    }
}

/// A symmetric matrix stored as its upper triangle `(row <= col, value)`,
/// representing the quadratic form `zeta^T Q zeta`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SymmetricSparse {
    /// Upper-triangular entries `(row, col, value)` with `row <= col`; duplicates allowed (they add).
    pub entries: Vec<(usize, usize, f64)>,
}

impl SymmetricSparse {
    /// The symmetric matrix of the product `p(zeta) q(zeta) = zeta^T sym(p q^T) zeta`.
    pub fn product(p: &LinearForm, q: &LinearForm) -> Self {
        let mut entries = Vec::with_capacity(p.terms.len() * q.terms.len());
        for &(i, a) in &p.terms {
            for &(j, b) in &q.terms {
                // (p_i q_j + p_j q_i) / 2 at (i, j) and (j, i): the upper triangle
                // receives a*b/2 from each ordered pair, and a*b on the diagonal
                let (r, c) = if i <= j { (i, j) } else { (j, i) };
                entries.push((r, c, if i == j { a * b } else { 0.5 * (a * b) }));
            }
        }
        SymmetricSparse { entries }.consolidated()
    }
    /// Adds up duplicate entries and drops zeros.
    pub fn consolidated(mut self) -> Self {
        self.entries.sort_by(|x, y| (x.1, x.0).cmp(&(y.1, y.0)));
        let mut out: Vec<(usize, usize, f64)> = Vec::with_capacity(self.entries.len());
        for (r, c, v) in self.entries {
            match out.last_mut() {
                Some(last) if last.0 == r && last.1 == c => last.2 += v,
                _ => out.push((r, c, v)),
            }
        }
        out.retain(|e| e.2 != 0.0);
        SymmetricSparse { entries: out }
    }
    /// `v^T Q v` (plain floating point).
    pub fn evaluate(&self, v: &[f64]) -> f64 {
        self.entries.iter().map(|&(r, c, value)| if r == c { value * v[r] * v[r] } else { 2.0 * value * v[r] * v[c] }).sum()
    }
    /// Frobenius norm of `D Q D`, `D = diag(scale)` (plain floating point).
    pub fn scaled_norm(&self, scale: &[f64]) -> f64 {
        self.entries.iter().map(|&(r, c, v)| (if r == c { 1.0 } else { 2.0 }) * (v * scale[r] * scale[c]).powi(2)).sum::<f64>().sqrt()
    }
    /// A bound on `|zeta^T Q zeta|` given `|zeta_t| <= magnitude_t`.
    pub fn magnitude(&self, coordinate_magnitude: &[f64]) -> f64 {
        self.entries.iter().fold(0.0, |sum, &(r, c, v)| {
            let weight = if r == c { v.abs() } else { 2.0 * v.abs() };
            add_up(sum, mul_up(mul_up(weight, coordinate_magnitude[r]), coordinate_magnitude[c]))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_matrix_evaluates_the_product_of_forms() {
        let p = LinearForm { terms: vec![(0, 1.5), (2, -0.5)], error: 0.0 };
        let q = LinearForm { terms: vec![(0, 2.0), (1, 1.0), (2, 3.0)], error: 0.0 };
        let m = SymmetricSparse::product(&p, &q);
        let z = [0.3, -1.2, 0.7];
        let quad: f64 = m.entries.iter().map(|&(r, c, v)| if r == c { v * z[r] * z[r] } else { 2.0 * v * z[r] * z[c] }).sum();
        let lin = |f: &LinearForm| f.terms.iter().map(|&(t, c)| c * z[t]).sum::<f64>();
        assert!((quad - lin(&p) * lin(&q)).abs() < 1e-14);
    }

    #[test]
    fn combining_exact_coordinates_is_exact() {
        let mags = [1.0, 2.0, 1.0];
        let f = LinearForm::combine(&[(0.3, &LinearForm::coordinate(0)), (-0.7, &LinearForm::coordinate(1))], 0.2, 2, &mags, 3);
        assert_eq!(f.error, 0.0);
        let g = LinearForm::combine(&[(0.3, &f), (1.0, &LinearForm::coordinate(0))], 0.0, 2, &mags, 3);
        assert!(g.error > 0.0);
    }
}
