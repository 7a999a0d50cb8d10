//! Outward rounding checked against exact references: activation values,
//! derivatives, local slope bounds, the facts an activation declares and the
//! chord helpers, compared with an arbitrary-precision evaluation
//! (`dashu-float`, 320 bits) across `|v|` up to 40 and beyond, at the
//! cancellation cases (tiny derivatives, `v` near 0, intervals of width
//! `1e-12`, far from 0).
//!
//! No tolerance: an f64 bound passes only when it is on the right side of the
//! reference by more than the reference's own error bound (`2^-280`
//! relative, far above what 320-bit arithmetic loses in these few operations),
//! so each assertion is a proof.

mod common;

use dashu_float::FBig;
use deltacert::activation::{Activation, NeuronAffine, NeuronFact};
use deltacert::rounding::{lower_chord, upper_chord};

type Big = FBig;

const PRECISION: usize = 320;

fn big(x: f64) -> Big {
    Big::try_from(x).expect("finite").with_precision(PRECISION).value()
}

/// `2^-280`: the relative error bound of a reference value.
fn reference_error() -> Big {
    big(2f64.powi(-280))
}

fn abs(x: &Big) -> Big {
    if *x < big(0.0) { -x.clone() } else { x.clone() }
}

/// `lower <= exact` is proven.
fn proven_below(lower: f64, exact: &Big) -> bool {
    big(lower) <= exact.clone() - abs(exact) * reference_error()
}

/// `upper >= exact` is proven.
fn proven_above(upper: f64, exact: &Big) -> bool {
    big(upper) >= exact.clone() + abs(exact) * reference_error()
}

/// The range of `sigma` and of `sigma'` (an end at or past it is a valid
/// bound by itself: tanh and sigmoid are strictly inside these ranges, so a
/// reference, however close to the end, is not needed there).
fn global_ranges(activation: Activation) -> ((f64, f64), (f64, f64)) {
    match activation {
        Activation::Tanh => ((-1.0, 1.0), (0.0, 1.0)),
        Activation::Sigmoid => ((0.0, 1.0), (0.0, 0.25)),
        _ => ((f64::NEG_INFINITY, f64::INFINITY), (f64::NEG_INFINITY, f64::INFINITY)),
    }
}

/// `lower <= exact <= upper` is proven, `range` holding every possible value.
fn proven_enclosure(lower: f64, upper: f64, exact: &Big, range: (f64, f64)) -> bool {
    (lower <= range.0 || proven_below(lower, exact)) && (upper >= range.1 || proven_above(upper, exact))
}

fn exact_sigma(activation: Activation, v: &Big) -> Big {
    match activation {
        Activation::Tanh => {
            // tanh v = (e^{2v} - 1) / (e^{2v} + 1), with exp_m1: no cancellation near 0
            let m = (v.clone() * big(2.0)).exp_m1();
            m.clone() / (m + big(2.0))
        }
        Activation::Sigmoid => big(1.0) / (big(1.0) + (-v.clone()).exp()),
        Activation::Relu => {
            if *v >= big(0.0) { v.clone() } else { big(0.0) }
        }
        Activation::LeakyRelu { alpha } => {
            if *v >= big(0.0) { v.clone() } else { big(alpha) * v.clone() }
        }
        Activation::Identity => v.clone(),
        Activation::Quantize { scale, zero_point, qmin, qmax } => common::exact_quantize(v, scale, zero_point, qmin, qmax, big),
    }
}

fn exact_derivative(activation: Activation, v: &Big) -> Big {
    let magnitude = abs(v);
    match activation {
        Activation::Tanh => {
            let e = (-(magnitude * big(2.0))).exp();
            big(4.0) * e.clone() / ((big(1.0) + e.clone()) * (big(1.0) + e))
        }
        Activation::Sigmoid => {
            let e = (-magnitude).exp();
            e.clone() / ((big(1.0) + e.clone()) * (big(1.0) + e))
        }
        other => big(other.derivative(v.to_f64().value())),
    }
}

/// Dense points of `[-40, 40]` plus the cancellation cases.
fn test_points() -> Vec<f64> {
    let mut points: Vec<f64> = (0..=8000).map(|i| -40.0 + 0.01 * i as f64).collect();
    for s in [1.0, -1.0] {
        for v in [5e-324, 1e-300, 1e-200, 1e-30, 1e-16, 1e-12, 1e-8, 1e-4, 0.3, 18.5, 19.0, 19.06, 20.0, 25.0, 36.7, 37.5, 40.0, 60.0, 100.0, 354.0, 360.0, 700.0, 709.0, 745.0, 800.0, 1e4] {
            points.push(s * v);
        }
    }
    points
}

#[test]
fn value_and_derivative_enclosures_contain_the_exact_values() {
    let quantisers = [Activation::Quantize { scale: 0.05f32 as f64, zero_point: 0.0, qmin: 0.0, qmax: 255.0 }, Activation::Quantize { scale: 0.375, zero_point: -7.0, qmin: -128.0, qmax: 127.0 }];
    for activation in [Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu { alpha: 0.1 }].into_iter().chain(quantisers) {
        let rule = activation.rule();
        for v in test_points() {
            let exact_v = big(v);
            let (lo, hi) = rule.value_enclosure(v);
            let value = exact_sigma(activation, &exact_v);
            let (value_range, derivative_range) = global_ranges(activation);
            let exact_family = matches!(activation, Activation::LeakyRelu { .. } | Activation::Quantize { .. });
            assert!(if exact_family { big(lo) <= value && big(hi) >= value } else { proven_enclosure(lo, hi, &value, value_range) }, "{activation:?} value at {v}: [{lo:e}, {hi:e}] vs {value}");
            let (dlo, dhi) = rule.derivative_enclosure(v);
            let derivative = exact_derivative(activation, &exact_v);
            if exact_family {
                assert!(big(dlo) <= derivative && big(dhi) >= derivative);
            } else {
                assert!(proven_enclosure(dlo, dhi, &derivative, derivative_range), "{activation:?} derivative at {v}: [{dlo:e}, {dhi:e}] vs {derivative}");
            }
        }
    }
    // the exactly known values at 0
    for (activation, value, derivative) in [(Activation::Tanh, 0.0, 1.0), (Activation::Sigmoid, 0.5, 0.25)] {
        let (lo, hi) = activation.rule().value_enclosure(0.0);
        assert!(lo <= value && value <= hi);
        let (lo, hi) = activation.rule().derivative_enclosure(0.0);
        assert!(lo <= derivative && derivative <= hi, "{activation:?}: [{lo}, {hi}]");
    }
}

/// Intervals `[l, u]` around several centres, widths from `1e-12` to 20.
fn test_intervals() -> Vec<(f64, f64)> {
    let mut intervals = Vec::new();
    for centre in [0.0, 1e-8, 0.5, -3.0, 10.0, 19.5, -25.0, 33.0, 39.9] {
        for width in [1e-12, 1e-6, 0.1, 2.0, 20.0] {
            intervals.push((centre - 0.5 * width, centre + 0.5 * width));
        }
    }
    intervals
}

/// Local slope bounds contain every exact derivative and every exact
/// difference quotient of points in the interval. Before the derivative
/// enclosures, the lower slope of tanh far from 0 (`1 - t^2` rounds to 0 or
/// loses its digits) lay above the exact derivative.
#[test]
fn local_slope_bounds_contain_exact_difference_quotients() {
    for activation in [Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu { alpha: 0.1 }, Activation::Relu] {
        for (l, u) in test_intervals() {
            let (alpha, beta) = activation.local_slope_bounds(l, u);
            let points: Vec<f64> = (0..=8).map(|i| if i == 8 { u } else { l + (u - l) * i as f64 / 8.0 }).filter(|p| *p >= l && *p <= u).collect();
            let values: Vec<Big> = points.iter().map(|p| exact_sigma(activation, &big(*p))).collect();
            let piecewise = activation.piecewise_linear_slope().is_some();
            let slope_range = global_ranges(activation).1;
            for (i, p) in points.iter().enumerate() {
                if !piecewise || *p != 0.0 {
                    let d = exact_derivative(activation, &big(*p));
                    assert!(if piecewise { big(alpha) <= d && big(beta) >= d } else { proven_enclosure(alpha, beta, &d, slope_range) }, "{activation:?} on [{l}, {u}]: derivative {d} at {p} not in [{alpha:e}, {beta:e}]");
                }
                for (j, q) in points.iter().enumerate().skip(i + 1) {
                    if p == q {
                        continue;
                    }
                    let quotient = (values[j].clone() - values[i].clone()) / (big(*q) - big(*p));
                    let ok = if piecewise { big(alpha) <= quotient && big(beta) >= quotient } else { proven_enclosure(alpha, beta, &quotient, slope_range) };
                    assert!(ok, "{activation:?} on [{l}, {u}]: quotient {quotient} of {p}, {q} not in [{alpha:e}, {beta:e}]");
                }
            }
        }
    }
}

fn exact_affine(e: &NeuronAffine, v: &Big, a: &Big, constant: &Big) -> Big {
    big(e.v_coef) * v.clone() + big(e.a_coef) * a.clone() + constant.clone()
}

/// Every fact holds on the exact graph at dense points, with some constant
/// inside `constant +- constant_error` (the sector constraint's constant is
/// the exact `slope v0 - sigma(v0)`, which must lie in that range).
#[test]
fn neuron_facts_hold_on_the_exact_graph() {
    let quantisers = [Activation::Quantize { scale: 0.05f32 as f64, zero_point: 0.0, qmin: 0.0, qmax: 255.0 }, Activation::Quantize { scale: 0.375, zero_point: -7.0, qmin: -128.0, qmax: 127.0 }];
    for activation in [Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu { alpha: 0.1 }, Activation::Relu].into_iter().chain(quantisers) {
        for (l, u) in test_intervals() {
            if activation.piecewise_linear_slope().is_some() && !(l < 0.0 && u > 0.0) {
                continue;
            }
            let rule = activation.rule();
            let (al, au) = rule.interval(l, u);
            let facts = rule.neuron_facts(l, u, al, au);
            let mid = 0.5 * (l + u);
            let s0 = exact_sigma(activation, &big(mid));
            for i in 0..=64 {
                let v = if i == 64 { u } else { l + (u - l) * i as f64 / 64.0 };
                let exact_v = big(v);
                let a = exact_sigma(activation, &exact_v);
                for fact in &facts {
                    match fact {
                        NeuronFact::NonNegative(e) => {
                            assert!(e.constant_error == 0.0, "{fact:?}");
                            assert!(exact_affine(e, &exact_v, &a, &big(e.constant)) >= big(0.0), "{activation:?} on [{l}, {u}] at {v}: {fact:?}");
                        }
                        NeuronFact::ProductNonNegative(p, q) => {
                            // the sector constraint around (mid, sigma(mid))
                            let cp = big(p.v_coef) * big(mid) * big(-1.0) - s0.clone(); // alpha mid - s0
                            let cq = s0.clone() - big(q.v_coef) * big(mid); // s0 - beta mid
                            for (e, c) in [(p, &cp), (q, &cq)] {
                                let off = abs(&(c.clone() - big(e.constant)));
                                assert!(off <= big(e.constant_error), "{activation:?} on [{l}, {u}]: constant {} off the exact {c} by more than {:e}", e.constant, e.constant_error);
                            }
                            // with the exact constants the product is
                            // (a - s0 - alpha (v - v0)) (beta (v - v0) - (a - s0)):
                            // zero at v = v0, elsewhere nonnegative exactly when
                            // the quotient (a - s0) / (v - v0) lies in [alpha, beta]
                            if v != mid {
                                let quotient = (a.clone() - s0.clone()) / (exact_v.clone() - big(mid));
                                let ok = proven_enclosure(-p.v_coef, q.v_coef, &quotient, global_ranges(activation).1);
                                assert!(ok, "{activation:?} on [{l}, {u}] at {v}: quotient {quotient} outside the sector [{:e}, {:e}]", -p.v_coef, q.v_coef);
                            }
                        }
                        NeuronFact::ProductZero(p, q) => {
                            let product = exact_affine(p, &exact_v, &a, &big(p.constant)) * exact_affine(q, &exact_v, &a, &big(q.constant));
                            assert!(product == big(0.0), "{activation:?} at {v}: {fact:?}");
                        }
                    }
                }
            }
        }
    }
}

/// The chord helpers give lines on the right side of both points in exact
/// arithmetic, also for nearly equal points, large offsets and tiny widths.
#[test]
fn chords_lie_on_the_right_side_of_their_points() {
    let cases = [(-1.0, 0.1, 2.0, 2.0), (-1e-12, -3e-13, 1e-12, 1e-12), (1e6, 3.3e5, 1e6 + 1e-4, 1e6 + 7.1e-5), (-0.3, 0.7, 0.1, 0.2), (-40.0, -1.0, 40.0, 1.0), (0.1, 1.0 / 3.0, 0.7, 2.0 / 3.0)];
    for (x0, y0, x1, y1) in cases {
        let (s, t) = upper_chord(x0, y0, x1, y1);
        for (x, y) in [(x0, y0), (x1, y1)] {
            assert!(big(s) * big(x) + big(t) >= big(y), "upper chord {s} {t} below ({x}, {y})");
        }
        let (s, t) = lower_chord(x0, y0, x1, y1);
        for (x, y) in [(x0, y0), (x1, y1)] {
            assert!(big(s) * big(x) + big(t) <= big(y), "lower chord {s} {t} above ({x}, {y})");
        }
    }
}

/// The lower slope bound on a single point `[v, v]` never exceeds the exact
/// derivative there: 2000 points of `(0, 20]` and of `[-40, 0)`, where
/// `1 - tanh(v)^2` and `s (1 - s)` lose their digits.
#[test]
fn lower_slope_never_exceeds_the_exact_derivative() {
    for activation in [Activation::Tanh, Activation::Sigmoid] {
        let mut above = Vec::new();
        for i in 1..=2000 {
            for v in [20.0 * i as f64 / 2000.0, -40.0 * i as f64 / 2000.0] {
                let (alpha, beta) = activation.local_slope_bounds(v, v);
                let derivative = exact_derivative(activation, &big(v));
                if !proven_enclosure(alpha, beta, &derivative, global_ranges(activation).1) {
                    above.push(v);
                }
            }
        }
        assert!(above.is_empty(), "{activation:?}: {} points where the slope bounds miss the exact derivative, first {:?}", above.len(), &above[..above.len().min(5)]);
    }
}

/// The leaky ReLU's mixed-integer rows admit the exact graph's end points
/// `(v = l, a = s l, z = 0)`, `(v = u, a = u, z = 1)` and the kink `(0, 0)`
/// with either `z`: with `(1 - s) l` and `(1 - s) u` rounded to nearest
/// (`1 - s` itself inexact for `s = 0.3`), `(u, u)` was cut off by an ulp
/// about half the time.
#[test]
fn leaky_relu_rows_admit_the_exact_end_points() {
    use deltacert::activation::MixedIntegerEncoding;
    let mut state = 0x2545f4914f6cdd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut checked = 0;
    for case in 0..4000 {
        let s = if case == 0 { 0.3 } else { next() };
        let (l, u) = if case == 0 { (-1.0, 4.391310268927119) } else { (-10.0 * next() - 1e-3, 10.0 * next() + 1e-3) };
        let encoding = Activation::LeakyRelu { alpha: s }.rule().mixed_integer_encoding(l, u).expect("leaky ReLU has an encoding");
        let MixedIntegerEncoding::Columns { rows, .. } = encoding else { panic!("an unstable neuron needs columns") };
        let points = [(big(l), big(s) * big(l), 0.0), (big(u), big(u), 1.0), (big(0.0), big(0.0), 0.0), (big(0.0), big(0.0), 1.0)];
        for (v, a, z) in &points {
            for row in &rows {
                // columns: a, z
                let value = big(row.pre_activation) * v.clone() + big(row.columns[0]) * a.clone() + big(row.columns[1]) * big(*z);
                assert!(row.lower == f64::NEG_INFINITY || value >= big(row.lower), "s {s}, [{l}, {u}]: {row:?} cuts off v = {v}, z = {z}");
                assert!(row.upper == f64::INFINITY || value <= big(row.upper), "s {s}, [{l}, {u}]: {row:?} cuts off v = {v}, z = {z}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 16_000);
}

/// The lines of tanh and sigmoid (chords and padded tangents on either side
/// of the inflection point, sector lines across it, each side possibly the
/// constant) lie below and above the exact graph at dense points of every
/// interval, for the chosen pair, the alternative and their mean; and lines,
/// not constants, are chosen where they are tighter.
#[test]
fn s_shaped_lines_bound_the_exact_graph() {
    let mut intervals = test_intervals();
    intervals.extend([(-5.0, 0.0), (0.0, 5.0), (-1.0, 2.0), (-40.0, 40.0), (-0.5, 0.0), (-3.0, -1.0), (1.0, 3.0), (-1e-3, 2e-3), (-8.0, 0.25)]);
    let mut lines_chosen = 0;
    for activation in [Activation::Tanh, Activation::Sigmoid] {
        let rule = activation.rule();
        for &(l, u) in &intervals {
            let (post_lower, post_upper) = rule.interval(l, u);
            let family = rule.linear_relaxation_family(l, u, post_lower, post_upper);
            lines_chosen += usize::from(family.chosen.upper_slope != 0.0) + usize::from(family.chosen.lower_slope != 0.0);
            let points: Vec<f64> = (0..=32).map(|i| if i == 32 { u } else { l + (u - l) * i as f64 / 32.0 }).chain([0.5 * (l + u), 0.0]).filter(|p| *p >= l && *p <= u).collect();
            for line in [family.chosen, family.alternative, family.at(0.5, 0.5, l, u)] {
                for p in &points {
                    let exact = exact_sigma(activation, &big(*p));
                    let below = big(line.lower_slope) * big(*p) + big(line.lower_intercept);
                    let above = big(line.upper_slope) * big(*p) + big(line.upper_intercept);
                    let margin = abs(&exact) * reference_error();
                    assert!(below <= exact.clone() - margin.clone(), "{activation:?} on [{l}, {u}]: lower line {line:?} above the graph at {p}");
                    assert!(above >= exact.clone() + margin, "{activation:?} on [{l}, {u}]: upper line {line:?} below the graph at {p}");
                }
            }
        }
    }
    assert!(lines_chosen >= 40, "only {lines_chosen} sides chose a line over the constant");
}
