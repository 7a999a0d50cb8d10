//! A linear function maximised over a box cut by polytope rows, by
//! Lagrangian duality: for multipliers `lambda >= 0` and every `x` of the
//! box with `A x <= b`,
//!
//! ```text
//! c . x  <=  c . x + lambda . (b - A x)  =  (c - A^T lambda) . x + lambda . b,
//! ```
//!
//! so `max_{x in box} (c - A^T lambda) . x + lambda . b` bounds the maximum
//! over the cut box for *any* `lambda >= 0`; the best `lambda` gives the LP's
//! optimum (strong duality). The multipliers are chosen by exact line
//! searches, one row at a time ([`multipliers`]); the bound for them is
//! evaluated with outward rounding ([`dual_bound`]), so how well they were
//! chosen affects only how tight the bound is. Propagation uses this where it
//! maximises a row over the input region ([`super::DifferentialRegion::polytope`]).

use crate::rounding::{accumulated_error, add_up, mul_up, sub_down, sum_up};

/// Sweeps over the rows in [`multipliers`] (one where the rows hold more
/// than [`FULL_SWEEPS_UP_TO`] coefficients).
const SWEEPS: usize = 3;

/// The most polytope coefficients (rows times inputs) for which
/// [`multipliers`] sweeps [`SWEEPS`] times.
const FULL_SWEEPS_UP_TO: usize = 50_000;

/// The most polytope coefficients for which [`multipliers`] searches at all:
/// a search costs about `rows x inputs x log(inputs)` per bounded row and runs
/// for every neuron's bound, without a clock (1,500 dense rows over MNIST's
/// 784 inputs took 11 s a pass). Above it every multiplier is 0: the box's
/// bound, sound and looser.
pub const SEARCH_UP_TO: usize = 250_000;

/// Multipliers `lambda >= 0` (one per row) for the bound of `max c . x` over
/// `[lower, upper]` cut by `rows` (`a_k . x <= b_k`): coordinate descent on
/// the dual function `D(lambda) = max_{x in box} (c - A^T lambda) . x +
/// lambda . b`, each coordinate minimised exactly ([`line_minimum`]),
/// [`SWEEPS`] sweeps from 0 (fewer, or none, for large polytopes: see
/// [`FULL_SWEEPS_UP_TO`] and [`SEARCH_UP_TO`]). `D` is convex and piecewise linear; the
/// coordinate steps never raise it, though they may stop short of its
/// minimum when several rows are active together.
pub fn multipliers(c: &[f64], lower: &[f64], upper: &[f64], rows: &[(Vec<f64>, f64)]) -> Vec<f64> {
    let mut lambda = vec![0.0; rows.len()];
    let coefficients = rows.len().saturating_mul(c.len());
    if coefficients > SEARCH_UP_TO {
        return lambda;
    }
    let sweeps = if rows.len() == 1 { 1 } else if coefficients <= FULL_SWEEPS_UP_TO { SWEEPS } else { 1 };
    // the current coefficients c - A^T lambda
    let mut residual = c.to_vec();
    let mut events = Vec::new();
    for _ in 0..sweeps {
        let mut moved = false;
        for (k, (a, b)) in rows.iter().enumerate() {
            if lambda[k] != 0.0 {
                for (d, ai) in residual.iter_mut().zip(a) {
                    *d += lambda[k] * ai;
                }
            }
            let t = line_minimum(&residual, a, *b, lower, upper, &mut events);
            moved |= t != lambda[k];
            lambda[k] = t;
            if t != 0.0 {
                for (d, ai) in residual.iter_mut().zip(a) {
                    *d -= t * ai;
                }
            }
        }
        if !moved {
            break;
        }
    }
    lambda
}

/// The `t >= 0` minimising `h(t) = t b + sum_i max_{x_i in [l_i, u_i]} (d_i -
/// t a_i) x_i` (one row's multiplier with the others fixed). `h` is convex
/// and piecewise linear with a kink where a coefficient `d_i - t a_i`
/// changes sign (at `t_i = d_i / a_i`), where its slope grows by `|a_i| (u_i -
/// l_i)`; the minimum is at 0 if the slope there is `>= 0`, else at the first
/// kink where it becomes so. 0 when it never does (`h` unbounded below: the
/// row leaves no point of the box, which the caller's other bounds handle).
fn line_minimum(d: &[f64], a: &[f64], b: f64, lower: &[f64], upper: &[f64], events: &mut Vec<(f64, f64)>) -> f64 {
    let mut slope = b;
    events.clear();
    for i in 0..d.len() {
        let ai = a[i];
        if ai == 0.0 {
            continue;
        }
        // the coefficient just right of t = 0 moves by -a_i
        let positive = d[i] > 0.0 || (d[i] == 0.0 && ai < 0.0);
        slope -= ai * if positive { upper[i] } else { lower[i] };
        let kink = d[i] / ai;
        if kink > 0.0 && kink.is_finite() {
            events.push((kink, ai.abs() * (upper[i] - lower[i])));
        }
    }
    if !(slope < 0.0) {
        return 0.0;
    }
    events.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
    for &(kink, growth) in events.iter() {
        slope += growth;
        if slope >= 0.0 {
            return kink;
        }
    }
    0.0
}

/// An upper bound of `max_{x in box} (c - A^T lambda) . x + lambda . b`,
/// rounded outward: each coefficient `c_i - sum_k lambda_k a_ki` takes `m`
/// products and `m` subtractions, so its error is at most `gamma_{m+1}`
/// times `|c_i| + sum_k |lambda_k a_ki|` (for `m >= 2` within `gamma_{2m}`
/// of the computed magnitude; for `m = 1`, `2u(1 + u)` of it, within
/// `gamma_2`), plus the underflow floor; the enclosure's ends are rounded
/// outward and maximised with both ends of `[l_i, u_i]`, every product and
/// sum rounded up. `+inf` when a multiplier is negative or not finite, or
/// anything overflows.
pub fn dual_bound(c: &[f64], lower: &[f64], upper: &[f64], rows: &[(Vec<f64>, f64)], lambda: &[f64]) -> f64 {
    if lambda.iter().any(|l| !(*l >= 0.0) || !l.is_finite()) {
        return f64::INFINITY;
    }
    let terms = (0..c.len()).map(|i| {
        let (mut coefficient, mut magnitude) = (c[i], c[i].abs());
        for ((a, _), l) in rows.iter().zip(lambda) {
            let product = l * a[i];
            coefficient -= product;
            magnitude += product.abs();
        }
        let error = accumulated_error(rows.len(), magnitude);
        let (lo, hi) = (sub_down(coefficient, error), add_up(coefficient, error));
        mul_up(lo, lower[i]).max(mul_up(lo, upper[i])).max(mul_up(hi, lower[i])).max(mul_up(hi, upper[i]))
    });
    let value = add_up(sum_up(terms), sum_up(rows.iter().zip(lambda).map(|((_, b), l)| mul_up(*l, *b))));
    if value.is_nan() { f64::INFINITY } else { value }
}

/// Whether the row `a . x <= b` cuts the box: its largest value there,
/// rounded up, is above `b` (otherwise every point of the box satisfies it
/// and it changes no bound).
pub fn cuts_box(lower: &[f64], upper: &[f64], (a, b): &(Vec<f64>, f64)) -> bool {
    let largest = (0..a.len()).filter(|&i| a[i] != 0.0).fold(0.0, |sum, i| add_up(sum, mul_up(a[i], lower[i]).max(mul_up(a[i], upper[i]))));
    !(largest <= *b)
}

/// Whether some row `a . x <= b` has no point in the box: its smallest value
/// there, rounded down, is above `b`. A box that misses a row holds no point
/// of the polytope.
pub fn box_misses_a_row(lower: &[f64], upper: &[f64], rows: &[(Vec<f64>, f64)]) -> bool {
    use crate::rounding::{add_down, mul_down};
    rows.iter().any(|(a, b)| {
        let smallest = (0..a.len()).filter(|&i| a[i] != 0.0).fold(0.0, |sum, i| add_down(sum, mul_down(a[i], lower[i]).min(mul_down(a[i], upper[i]))));
        smallest > *b
    })
}

/// Passes of [`tighten_box`] over the rows (one where the rows hold more than
/// [`FULL_SWEEPS_UP_TO`] coefficients).
const TIGHTENING_PASSES: usize = 2;

/// Shrinks the box `[lower, upper]` to a box that still holds every point of
/// the box satisfying `rows` (`a . x <= b`); `false` when it proves that no
/// point does. For a row and a coordinate `i` with `a_i != 0`, every such `x`
/// has
///
/// ```text
/// a_i x_i  <=  b - sum_{j != i} a_j x_j  <=  b - sum_{j != i} min_{[l_j, u_j]} a_j x_j  =:  N_i,
/// ```
///
/// so `x_i <= N_i / a_i` when `a_i > 0` and `x_i >= N_i / a_i` when `a_i < 0`.
/// The minima are rounded down, their sum `S` rounded down step by step, the
/// rest `S - min_i` rounded down (a lower bound of the other terms' sum,
/// since `S` is below the exact sum of the rounded minima), `N_i` rounded up
/// and the quotient rounded outward, so the new ends hold every point. Each
/// row is used in turn with the ends found so far ([`TIGHTENING_PASSES`]
/// passes). Propagation on the smaller box bounds the same set: where a row
/// cuts a piece diagonally, halves that keep only a sliver of the set are
/// bounded on the sliver's box, not on the half's.
pub fn tighten_box(lower: &mut [f64], upper: &mut [f64], rows: &[(Vec<f64>, f64)]) -> bool {
    use crate::rounding::{add_down, div_down, div_up, mul_down, sub_up};
    let coefficients = rows.len().saturating_mul(lower.len());
    let passes = if coefficients <= FULL_SWEEPS_UP_TO { TIGHTENING_PASSES } else { 1 };
    let mut minima = vec![0.0; lower.len()];
    for _ in 0..passes {
        for (a, b) in rows {
            for (i, m) in minima.iter_mut().enumerate() {
                *m = if a[i] == 0.0 { 0.0 } else { mul_down(a[i], lower[i]).min(mul_down(a[i], upper[i])) };
            }
            let smallest = minima.iter().fold(0.0, |sum, m| add_down(sum, *m));
            if !smallest.is_finite() {
                continue;
            }
            if smallest > *b {
                return false;
            }
            for i in 0..a.len() {
                if a[i] == 0.0 {
                    continue;
                }
                let room = sub_up(*b, sub_down(smallest, minima[i]));
                if !room.is_finite() {
                    continue;
                }
                if a[i] > 0.0 {
                    let end = div_up(room, a[i]);
                    if end < upper[i] {
                        upper[i] = end;
                    }
                } else {
                    let end = div_down(room, a[i]);
                    if end > lower[i] {
                        lower[i] = end;
                    }
                }
                if lower[i] > upper[i] {
                    return false;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The exact maximum of `c . x` over a box cut by one row, by the
    /// fractional knapsack: start at the box's best corner, then move the
    /// coordinates with the smallest loss per unit of the row first.
    fn one_row_maximum(c: &[f64], lower: &[f64], upper: &[f64], a: &[f64], b: f64) -> Option<f64> {
        let mut x: Vec<f64> = (0..c.len()).map(|i| if c[i] >= 0.0 { upper[i] } else { lower[i] }).collect();
        let mut excess: f64 = a.iter().zip(&x).map(|(ai, xi)| ai * xi).sum::<f64>() - b;
        let mut order: Vec<usize> = (0..c.len()).filter(|&i| a[i] != 0.0).collect();
        order.sort_by(|&i, &j| (c[i].abs() / a[i].abs()).total_cmp(&(c[j].abs() / a[j].abs())));
        for i in order {
            if excess <= 0.0 {
                break;
            }
            // move x_i towards the end that lowers a_i x_i
            let target = if a[i] > 0.0 { lower[i] } else { upper[i] };
            let room = (a[i] * (x[i] - target)).max(0.0);
            let step = room.min(excess);
            x[i] -= step / a[i];
            excess -= step;
        }
        (excess <= 1e-12).then(|| c.iter().zip(&x).map(|(ci, xi)| ci * xi).sum())
    }

    #[test]
    fn one_row_gives_the_exact_maximum_and_every_bound_holds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..500 {
            let n = rng.gen_range(1..8);
            let lower: Vec<f64> = (0..n).map(|_| rng.gen_range(-2.0..0.5)).collect();
            let upper: Vec<f64> = lower.iter().map(|l| l + rng.gen_range(0.0..2.0)).collect();
            let c: Vec<f64> = (0..n).map(|_| if rng.gen_bool(0.2) { 0.0 } else { rng.gen_range(-1.0..1.0) }).collect();
            let a: Vec<f64> = (0..n).map(|_| if rng.gen_bool(0.2) { 0.0 } else { rng.gen_range(-1.0..1.0) }).collect();
            let at_lowest: f64 = (0..n).map(|i| (a[i] * lower[i]).min(a[i] * upper[i])).sum();
            let b = at_lowest + rng.gen_range(0.0..1.0);
            let rows = vec![(a.clone(), b)];
            let Some(exact) = one_row_maximum(&c, &lower, &upper, &a, b) else { continue };
            let lambda = multipliers(&c, &lower, &upper, &rows);
            let bound = dual_bound(&c, &lower, &upper, &rows, &lambda);
            assert!(bound >= exact - 1e-12, "bound {bound} below the maximum {exact}");
            assert!(bound <= exact + 1e-9, "one row: the line search is exact, got {bound} against {exact}");
        }
    }

    #[test]
    fn any_multipliers_bound_every_feasible_point() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        for _ in 0..200 {
            let n = rng.gen_range(1..6);
            let m = rng.gen_range(1..4);
            let lower: Vec<f64> = (0..n).map(|_| rng.gen_range(-3.0..0.0)).collect();
            let upper: Vec<f64> = lower.iter().map(|l| l + rng.gen_range(0.0..3.0)).collect();
            let c: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let rows: Vec<(Vec<f64>, f64)> = (0..m).map(|_| ((0..n).map(|_| rng.gen_range(-1.0..1.0)).collect(), rng.gen_range(-0.5..1.0))).collect();
            let mut bounds = vec![dual_bound(&c, &lower, &upper, &rows, &multipliers(&c, &lower, &upper, &rows))];
            for _ in 0..3 {
                let lambda: Vec<f64> = (0..m).map(|_| rng.gen_range(0.0..2.0)).collect();
                bounds.push(dual_bound(&c, &lower, &upper, &rows, &lambda));
            }
            let box_bound = dual_bound(&c, &lower, &upper, &rows, &vec![0.0; m]);
            assert!(bounds[0] <= box_bound, "the chosen multipliers never lose to none");
            for _ in 0..300 {
                let x: Vec<f64> = (0..n).map(|i| rng.gen_range(lower[i]..=upper[i])).collect();
                if rows.iter().all(|(a, b)| a.iter().zip(&x).map(|(ai, xi)| ai * xi).sum::<f64>() <= *b) {
                    let value: f64 = c.iter().zip(&x).map(|(ci, xi)| ci * xi).sum();
                    for bound in &bounds {
                        assert!(*bound >= value, "bound {bound} below a feasible value {value}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_box_misses_a_row_only_when_no_point_satisfies_it() {
        let rows = vec![(vec![1.0, -1.0], -0.5)];
        // x0 - x1 <= -0.5: the box [0, 1] x [0, 0.4] has x0 - x1 >= -0.4
        assert!(box_misses_a_row(&[0.0, 0.0], &[1.0, 0.4], &rows));
        // touching: x0 - x1 = -0.5 at (0, 0.5)
        assert!(!box_misses_a_row(&[0.0, 0.0], &[1.0, 0.5], &rows));
        assert!(!box_misses_a_row(&[0.0, 0.0], &[1.0, 1.0], &rows));
        // 0 . x <= -1 holds nowhere, 0 . x <= 0 everywhere
        assert!(box_misses_a_row(&[0.0], &[1.0], &[(vec![0.0], -1.0)]));
        assert!(!box_misses_a_row(&[0.0], &[1.0], &[(vec![0.0], 0.0)]));
    }

    #[test]
    fn a_row_cuts_a_box_unless_every_point_satisfies_it() {
        let row = (vec![1.0, -1.0], -0.5);
        assert!(cuts_box(&[0.0, 0.0], &[1.0, 1.0], &row));
        // x0 - x1 <= -0.5 everywhere on [0, 0.2] x [0.8, 1]
        assert!(!cuts_box(&[0.0, 0.8], &[0.2, 1.0], &row));
        // touching at one corner (x0 - x1 = -0.5 at (0.25, 0.75)): kept, as
        // the rounded-up maximum cannot tell touching from crossing
        assert!(cuts_box(&[0.0, 0.75], &[0.25, 1.0], &row));
    }

    /// `sum_i a_i x_i` exactly (320-bit arithmetic holds every product and
    /// sum of these magnitudes).
    fn exact_dot(a: &[f64], x: &[f64]) -> crate::rounding::exact::Big {
        use crate::rounding::exact::big;
        a.iter().zip(x).fold(big(0.0), |sum, (ai, xi)| sum + big(*ai) * big(*xi))
    }

    /// The row's smallest value over the box except coordinate `skip`, exactly.
    fn exact_rest(a: &[f64], lower: &[f64], upper: &[f64], skip: usize) -> crate::rounding::exact::Big {
        use crate::rounding::exact::big;
        (0..a.len()).filter(|&j| j != skip).fold(big(0.0), |sum, j| {
            let (p, q) = (big(a[j]) * big(lower[j]), big(a[j]) * big(upper[j]));
            sum + if p < q { p } else { q }
        })
    }

    #[test]
    fn one_row_tightens_each_end_to_its_exact_value_and_never_past_it() {
        use crate::rounding::exact::big;
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let (mut tightened, mut empty) = (0, 0);
        for case in 0..2_000 {
            let n = rng.gen_range(1..7);
            let scale = [1e-6, 1.0, 1e4][case % 3];
            let lower: Vec<f64> = (0..n).map(|_| rng.gen_range(-2.0..1.0) * scale).collect();
            let upper: Vec<f64> = lower.iter().map(|l| if rng.gen_bool(0.1) { *l } else { l + rng.gen_range(0.0..2.0) * scale }).collect();
            let a: Vec<f64> = (0..n).map(|_| if rng.gen_bool(0.2) { 0.0 } else { rng.gen_range(-3.0..3.0) }).collect();
            let at_lowest: f64 = (0..n).map(|i| (a[i] * lower[i]).min(a[i] * upper[i])).sum();
            let b = at_lowest + rng.gen_range(-0.2..1.5) * scale;
            let (mut lo, mut hi) = (lower.clone(), upper.clone());
            let kept = tighten_box(&mut lo, &mut hi, &[(a.clone(), b)]);
            let smallest = exact_rest(&a, &lower, &upper, usize::MAX);
            if !kept {
                // empty only if the row's smallest value exceeds b
                assert!(smallest > big(b), "case {case}: refused a box the row holds a point of");
                empty += 1;
                continue;
            }
            for i in 0..n {
                assert!(lo[i] >= lower[i] && hi[i] <= upper[i] && lo[i] <= hi[i], "case {case}: the box grew or crossed");
                if a[i] == 0.0 {
                    assert!(lo[i] == lower[i] && hi[i] == upper[i]);
                    continue;
                }
                // the tightest end x_i* has a_i x_i* = b - rest exactly; a
                // sound end e has a_i e >= b - rest (on the side the row
                // limits) unless it is the box's own end
                let room = big(b) - exact_rest(&a, &lower, &upper, i);
                let end = if a[i] > 0.0 { hi[i] } else { lo[i] };
                let original = if a[i] > 0.0 { upper[i] } else { lower[i] };
                if end != original {
                    tightened += 1;
                    assert!(big(a[i]) * big(end) >= room, "case {case}: coordinate {i} cut past the set");
                    // and tight: within a few ulps of the exact end
                    let slack = big(a[i]) * big(end) - room.clone();
                    let tolerance = big(1e-12) * (big(b.abs()) + big(scale) * big(10.0));
                    assert!(slack <= tolerance, "case {case}: coordinate {i} loose");
                }
            }
        }
        assert!(tightened > 1_000 && empty > 20, "{tightened} ends tightened, {empty} boxes emptied");
    }

    #[test]
    fn tightened_boxes_hold_every_point_of_the_rows() {
        // points built to lie on several rows at once (b_k = a_k . x0 rounded
        // up), many at corners of the box: each must stay inside
        use crate::rounding::exact::big;
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        for case in 0..2_000 {
            let n = rng.gen_range(1..8);
            let m = rng.gen_range(1..5);
            // half the cases on a grid of 1/8 (every product and sum exact, so
            // b = a . x0 exactly and each row is tight at x0)
            let grid = case % 2 == 0;
            let mut draw = |lo: f64, hi: f64| if grid { (rng.gen_range(lo..=hi) * 8.0).round() / 8.0 } else { rng.gen_range(lo..=hi) };
            let lower: Vec<f64> = (0..n).map(|_| draw(-3.0, 0.0)).collect();
            let upper: Vec<f64> = lower.iter().map(|l| l + draw(0.0, 3.0)).collect();
            let x0: Vec<f64> = (0..n).map(|i| match rng.gen_range(0..3) { 0 => lower[i], 1 => upper[i], _ => if grid { (rng.gen_range(lower[i]..=upper[i]) * 8.0).floor().max(lower[i] * 8.0) / 8.0 } else { rng.gen_range(lower[i]..=upper[i]) } }).collect();
            let rows: Vec<(Vec<f64>, f64)> = (0..m)
                .map(|_| {
                    let a: Vec<f64> = (0..n).map(|_| if rng.gen_bool(0.2) { 0.0 } else if grid { (rng.gen_range(-2.0..2.0) * 8.0f64).round() / 8.0 } else { rng.gen_range(-2.0..2.0) }).collect();
                    // the double nearest above the exact a . x0
                    let mut b: f64 = a.iter().zip(&x0).map(|(ai, xi)| ai * xi).sum();
                    while exact_dot(&a, &x0) > big(b) {
                        b = b.next_up();
                    }
                    (a, b)
                })
                .collect();
            for (a, b) in &rows {
                assert!(exact_dot(a, &x0) <= big(*b));
            }
            let (mut lo, mut hi) = (lower.clone(), upper.clone());
            assert!(tighten_box(&mut lo, &mut hi, &rows), "case {case}: emptied a box holding a point of every row");
            for i in 0..n {
                assert!(lo[i] <= x0[i] && x0[i] <= hi[i], "case {case}: coordinate {i} of a feasible point cut off: {} not in [{}, {}]", x0[i], lo[i], hi[i]);
            }
        }
    }

    #[test]
    fn bad_multipliers_give_no_bound() {
        let rows = vec![(vec![1.0], 0.5)];
        assert_eq!(dual_bound(&[1.0], &[0.0], &[1.0], &rows, &[-1.0]), f64::INFINITY);
        assert_eq!(dual_bound(&[1.0], &[0.0], &[1.0], &rows, &[f64::NAN]), f64::INFINITY);
        assert_eq!(dual_bound(&[1.0], &[0.0], &[1.0], &rows, &[f64::INFINITY]), f64::INFINITY);
        // x <= 0.5 on [0, 1]: max x = 0.5, attained with lambda = 1
        let lambda = multipliers(&[1.0], &[0.0], &[1.0], &rows);
        assert_eq!(lambda, vec![1.0]);
        let bound = dual_bound(&[1.0], &[0.0], &[1.0], &rows, &lambda);
        assert!((0.5..0.5 + 1e-12).contains(&bound), "{bound}");
    }
}
