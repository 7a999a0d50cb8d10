//! Quantiser of an activation tensor: an ONNX `QuantizeLinear` followed by
//! the `DequantizeLinear` with the same scale `s > 0` and zero point `z`
//! (per tensor), as onnxruntime's static quantisation (QDQ format) writes
//! between layers:
//!
//! ```text
//! Q(v) = s (k(v) - z),   k(v) = clamp(rne(v / s) + z, qmin, qmax),
//! ```
//!
//! `rne` rounding half to even, `[qmin, qmax]` the 8-bit range (`[0, 255]`
//! for uint8, `[-128, 127]` for int8), `qmin <= z <= qmax` integers. `Q` is a
//! non-decreasing step function with levels `s (k - z)`; with `z = qmin` (uint8
//! `z = 0`, int8 `z = -128`) its lower clamp is a ReLU, which is how
//! onnxruntime folds a ReLU into the quantiser that follows it.
//!
//! **Semantics and rounding.** The IR's quantiser is `Q` with the exact
//! quotient `v / s`. [`ActivationRule::eval`] computes `v / s` in f64 and
//! rounds it half to even, so at points within an ulp of a tie `(k + 1/2) s`
//! it may pick the other neighbour; onnxruntime computes `v / s` in float32
//! (and `s (k - z)` in float32 too), with the same effect a little further
//! from ties. The value enclosure ([`Quantize::value_enclosure`]) encloses
//! the exact quotient between two neighbouring doubles (exactly when the
//! division is exact: the remainder `v - fl(v / s) s`, computed exactly by a
//! fused multiply-add, tells), so it holds for the exact `Q` and the computed
//! one; the levels `s (k - z)` are enclosed the same way (the product of a
//! float32 scale and an integer of at most 17 bits is exact in f64, and a
//! fused multiply-add checks it for any scale).
//!
//! **Slopes.** `Q` jumps by `s` at every tie, so it is not slope-restricted:
//! its slope bounds are `(0, +inf)` (`(0, 0)` on an interval it maps to one
//! level), [`super::Shape::slope_restricted`] is false, and the sector and
//! incremental quadratic constraints are not built for it. The derivative
//! used by gradient steps of the attack is the straight-through one: 1 where
//! the quantiser is not saturated (`s (qmin - z) < v < s (qmax - z)`), 0
//! outside.
//!
//! **Linear relaxation.** Let `lo = s (qmin - z)`, `hi = s (qmax - z)` and
//! `n` any integer with `|n - v / s| <= 1/2` (round to nearest, ties either
//! way). Since `clamp(n + z, qmin, qmax) <= max(n + z, qmin)`,
//! `Q(v) <= max(s n, lo) <= max(v + s/2, lo)`, and for `v >= lo - s/2` the
//! maximum is `v + s/2`. Symmetrically `Q(v) >= min(v - s/2, hi)`, which is
//! `v - s/2` for `v <= hi + s/2`. So on `[l, u]`
//!
//! ```text
//! a <= v + c   when l >= lo - s/2,        a >= v - c   when u <= hi + s/2,
//! ```
//!
//! with `c = s/2`. The computed `eval` rounds `fl(v / s)`, `|fl(v / s) - v /
//! s| <= u |v / s|`, which moves `n` by at most `u |v| / s` more; the
//! relaxation takes `c = s/2 + u max(|l|, |u|)` rounded up so that the lines
//! hold for both. The conditions are tested against `lo - s/2` rounded up and
//! `hi + s/2` rounded down. Each line is used when its condition holds and it
//! is lower (upper line) or higher (lower line) than the constant bound
//! `post_u` (`post_l`) at the midpoint of `[l, u]`; otherwise the constant.
//!
//! **Other rules.** The difference of two quantisers gets the constant
//! relaxation from `post` (the generic rule needs finite slopes). The SDP
//! facts are linear: `a >= Q(l)`, `a <= Q(u)` (from the enclosures) and the
//! two lines where valid (docs/method.md §3). No mixed-integer encoding (it
//! needs an integer level variable): `--method milp` refuses networks with
//! quantisers, naming the activation. No ONNX operator of its own: the
//! writer writes a `QuantizeLinear`/`DequantizeLinear` pair and the reader
//! reads the pair ([`crate::io::onnx`]).
use super::relaxation::{LinearBounds, RelaxationFamily};
use super::{Activation, ActivationRule, NeuronAffine, NeuronFact, OnnxActivation};
use crate::rounding::{add_down, add_up, mul_up, sub_up, UNIT_ROUNDOFF};

#[derive(Clone)]
pub(super) struct Quantize {
    /// The scale `s > 0`.
    pub scale: f64,
    /// The zero point `z` (an integer in `[qmin, qmax]`).
    pub zero_point: f64,
    /// Smallest integer level.
    pub qmin: f64,
    /// Largest integer level.
    pub qmax: f64,
}

/// Below this magnitude (and above 0) a quotient's remainder may underflow,
/// so the exactness test of [`Quantize::quotient_enclosure`] is not used.
const TINY: f64 = 1e-280;

impl Quantize {
    /// The integer level `clamp(rne(t) + z, qmin, qmax)` of a quotient `t`
    /// (NaN for NaN).
    fn level(&self, quotient: f64) -> f64 {
        (quotient.round_ties_even() + self.zero_point).clamp(self.qmin, self.qmax)
    }

    /// Two doubles `(lo, hi)` with `lo <= v / s <= hi` in exact arithmetic,
    /// neighbours of the computed quotient `fl(v / s)` (both equal to it when
    /// the division is exact, which the remainder `v - fl(v / s) s`, exact
    /// in a fused multiply-add, tells).
    fn quotient_enclosure(&self, v: f64) -> (f64, f64) {
        let q = v / self.scale;
        if !q.is_finite() {
            // NaN, or an infinite v: the quotient is that limit
            return (q, q);
        }
        if v != 0.0 && v.abs() < TINY {
            return (q.next_down(), q.next_up());
        }
        let remainder = (-q).mul_add(self.scale, v);
        if remainder > 0.0 {
            (q, q.next_up())
        } else if remainder < 0.0 {
            (q.next_down(), q)
        } else {
            (q, q)
        }
    }

    /// An enclosure of the level value `s (k - z)` (exact when the product
    /// is, which the fused multiply-add tells).
    fn level_value(&self, level: f64) -> (f64, f64) {
        let m = level - self.zero_point; // integers below 2^53: exact
        let p = self.scale * m;
        let error = self.scale.mul_add(m, -p);
        if error > 0.0 {
            (p, p.next_up())
        } else if error < 0.0 {
            (p.next_down(), p)
        } else {
            (p, p)
        }
    }

    /// `c = s/2 + u max(|l|, |u|)`, rounded up (module docs).
    fn half_step(&self, lower: f64, upper: f64) -> f64 {
        add_up(0.5 * self.scale, mul_up(UNIT_ROUNDOFF, lower.abs().max(upper.abs())))
    }

    /// Whether `l >= lo - s/2` holds in exact arithmetic (so `a <= v + c`).
    fn upper_line_valid(&self, lower: f64) -> bool {
        let lo = self.level_value(self.qmin).1;
        lower >= sub_up(lo, 0.5 * self.scale)
    }

    /// Whether `u <= hi + s/2` holds in exact arithmetic (so `a >= v - c`).
    fn lower_line_valid(&self, upper: f64) -> bool {
        let hi = self.level_value(self.qmax).0;
        upper <= add_down(hi, 0.5 * self.scale)
    }
}

impl Quantize {
    /// For a quantiser whose lower clamp is a ReLU (`z = qmin`): bounds
    /// `(e_lo, e_hi)` on `e = relu(v) - Q(v)` over `v in [l, u]`. Below 0 both
    /// are 0; from 0 up to `hi + s/2` round to nearest keeps `|e| <= c` (module
    /// docs, `c` covering the f64 quotient too); above it `Q = hi` and
    /// `e = v - hi <= u - hi`. None for other zero points.
    pub(super) fn relu_gap(&self, lower: f64, upper: f64) -> Option<(f64, f64)> {
        if self.zero_point != self.qmin {
            return None;
        }
        let c = self.half_step(lower, upper);
        if !c.is_finite() {
            return None;
        }
        let top = if self.lower_line_valid(upper) { c } else { c.max(sub_up(upper, self.level_value(self.qmax).0)) };
        top.is_finite().then_some((-c, top))
    }
}

impl ActivationRule for Quantize {
    fn name(&self) -> &'static str {
        "quantize"
    }
    fn shape(&self) -> super::Shape {
        super::Shape { monotone: true, derivative_peaked_at_zero: false, slope_restricted: false }
    }
    fn eval(&self, v: f64) -> f64 {
        self.scale * (self.level(v / self.scale) - self.zero_point)
    }
    #[cfg(test)]
    fn exact_eval(&self, v: &dashu_float::FBig) -> dashu_float::FBig {
        use crate::rounding::exact::big;
        let s = big(self.scale);
        // the integer n with s (n - 1/2) <= v <= s (n + 1/2), ties to even
        let mut n = (v.to_f64().value() / self.scale).floor().clamp(-1e12, 1e12);
        while s.clone() * big(n + 0.5) < *v {
            n += 1.0;
        }
        while s.clone() * big(n - 0.5) > *v {
            n -= 1.0;
        }
        let odd = n.rem_euclid(2.0) == 1.0;
        if odd && s.clone() * big(n + 0.5) == *v {
            n += 1.0;
        } else if odd && s.clone() * big(n - 0.5) == *v {
            n -= 1.0;
        }
        let level = (n + self.zero_point).clamp(self.qmin, self.qmax);
        s * big(level - self.zero_point)
    }
    fn derivative(&self, v: f64) -> f64 {
        // straight through where the quantiser is not saturated
        let (lo, hi) = (self.scale * (self.qmin - self.zero_point), self.scale * (self.qmax - self.zero_point));
        if v > lo && v < hi { 1.0 } else { 0.0 }
    }
    fn value_enclosure(&self, v: f64) -> (f64, f64) {
        let (q_lower, q_upper) = self.quotient_enclosure(v);
        (self.level_value(self.level(q_lower)).0, self.level_value(self.level(q_upper)).1)
    }
    fn slope_bounds(&self) -> (f64, f64) {
        (0.0, f64::INFINITY)
    }
    fn local_slope_bounds(&self, lower: f64, upper: f64) -> (f64, f64) {
        let (first, last) = (self.level(self.quotient_enclosure(lower).0), self.level(self.quotient_enclosure(upper).1));
        if first == last { (0.0, 0.0) } else { (0.0, f64::INFINITY) }
    }
    fn neuron_facts(&self, lower: f64, upper: f64, a_lower: f64, a_upper: f64) -> Vec<NeuronFact> {
        let (floor, ceiling) = (self.value_enclosure(lower).0, self.value_enclosure(upper).1);
        let (floor, ceiling) = (if floor > a_lower { floor } else { a_lower }, if ceiling < a_upper { ceiling } else { a_upper });
        let mut facts = Vec::new();
        if floor.is_finite() {
            facts.push(NeuronFact::NonNegative(NeuronAffine::new(0.0, 1.0, -floor))); // a - Q(l)
        }
        if ceiling.is_finite() {
            facts.push(NeuronFact::NonNegative(NeuronAffine::new(0.0, -1.0, ceiling))); // Q(u) - a
        }
        let c = self.half_step(lower, upper);
        if c.is_finite() && self.upper_line_valid(lower) {
            facts.push(NeuronFact::NonNegative(NeuronAffine::new(1.0, -1.0, c))); // v + c - a
        }
        if c.is_finite() && self.lower_line_valid(upper) {
            facts.push(NeuronFact::NonNegative(NeuronAffine::new(-1.0, 1.0, c))); // a - v + c
        }
        facts
    }
    /// The lines `v - c <= Q(v) <= v + c` (where valid) or the constant
    /// bounds, whichever is tighter at the middle; the other one is the
    /// alternative.
    fn linear_relaxation_family(&self, lower: f64, upper: f64, post_lower: f64, post_upper: f64) -> RelaxationFamily {
        let constant = LinearBounds::constant(post_lower, post_upper);
        let (mut chosen, mut alternative) = (constant, constant);
        let c = self.half_step(lower, upper);
        let middle = 0.5 * lower + 0.5 * upper;
        if !(c.is_finite() && middle.is_finite()) {
            return RelaxationFamily::fixed(constant);
        }
        if self.upper_line_valid(lower) {
            let target = if middle + c < post_upper { &mut chosen } else { &mut alternative };
            (target.upper_slope, target.upper_intercept) = (1.0, c);
        }
        if self.lower_line_valid(upper) {
            let target = if middle - c > post_lower { &mut chosen } else { &mut alternative };
            (target.lower_slope, target.lower_intercept) = (1.0, -c);
        }
        RelaxationFamily { chosen, alternative }
    }
    fn difference_relaxation_family(&self, _f: (f64, f64), _g: (f64, f64), _delta: (f64, f64), post: (f64, f64)) -> RelaxationFamily {
        RelaxationFamily::fixed(LinearBounds::constant(post.0, post.1))
    }
    fn onnx_op(&self) -> Option<OnnxActivation> {
        // written as a QuantizeLinear/DequantizeLinear pair by the writer
        None
    }
    fn read_onnx(&self, _float_attribute: &dyn Fn(&str) -> Option<f64>) -> Result<Activation, String> {
        Err("a quantiser is read from a QuantizeLinear/DequantizeLinear pair".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rounding::exact::big;
    use rand::{Rng, SeedableRng};

    /// The quantisers of the tests: folded ReLU (uint8 z = 0, int8 z = -128),
    /// zero points in the middle, a scale that is no power of two.
    fn quantisers() -> Vec<Quantize> {
        vec![
            Quantize { scale: 0.05f32 as f64, zero_point: 0.0, qmin: 0.0, qmax: 255.0 },
            Quantize { scale: 0.125, zero_point: -128.0, qmin: -128.0, qmax: 127.0 },
            Quantize { scale: 0.25, zero_point: 3.0, qmin: -128.0, qmax: 127.0 },
            Quantize { scale: 0.0371f32 as f64, zero_point: 128.0, qmin: 0.0, qmax: 255.0 },
            Quantize { scale: 0.5, zero_point: 250.0, qmin: 0.0, qmax: 255.0 },
        ]
    }

    /// Dense samples of `[l, u]`, the ends, and every tie `(k + 1/2) s` and
    /// its neighbours inside.
    fn samples(q: &Quantize, l: f64, u: f64) -> Vec<f64> {
        let mut points: Vec<f64> = (0..=200).map(|i| if i == 200 { u } else { l + (u - l) * i as f64 / 200.0 }).collect();
        let (first, last) = ((l / q.scale).floor() as i64, (u / q.scale).ceil() as i64);
        if last - first < 2000 {
            for k in first..=last {
                let tie = (k as f64 + 0.5) * q.scale;
                points.extend([tie, tie.next_up(), tie.next_down()]);
            }
        }
        points.retain(|v| *v >= l && *v <= u);
        points
    }

    fn random_interval(rng: &mut rand::rngs::StdRng, q: &Quantize) -> (f64, f64) {
        let (lo, hi) = (q.scale * (q.qmin - q.zero_point), q.scale * (q.qmax - q.zero_point));
        let centre = match rng.gen_range(0..4) {
            0 => lo + rng.gen_range(-2.0..2.0) * q.scale,
            1 => hi + rng.gen_range(-2.0..2.0) * q.scale,
            2 => (rng.gen_range(-3i32..40) as f64 + 0.5) * q.scale,
            _ => rng.gen_range(1.5 * lo - 1.0..1.5 * hi + 1.0),
        };
        let width = [0.0, 1e-9, 0.3 * q.scale, q.scale, 5.0 * q.scale, 0.5 * (hi - lo), 2.0 * (hi - lo)][rng.gen_range(0..7)] * rng.gen_range(0.5..1.0);
        let l = centre - width * rng.gen_range(0.0..1.0);
        (l, l + width)
    }

    /// The exact quantiser at exact ties rounds half to even; `eval` agrees
    /// with it at the ties, saturates at both ends, and is monotone.
    #[test]
    fn eval_rounds_half_to_even_and_saturates() {
        let q = Quantize { scale: 0.5, zero_point: 0.0, qmin: -128.0, qmax: 127.0 };
        // v / s = 0.5, 1.5, 2.5, -0.5, -1.5: levels 0, 2, 2, 0, -2
        for (v, expected) in [(0.25, 0.0), (0.75, 1.0), (1.25, 1.0), (-0.25, 0.0), (-0.75, -1.0), (100.0, 63.5), (-100.0, -64.0)] {
            assert_eq!(q.eval(v), expected, "at {v}");
            assert_eq!(q.exact_eval(&big(v)), big(expected), "exact at {v}");
            assert_eq!(q.value_enclosure(v), (expected, expected), "enclosure at {v}");
        }
        assert_eq!(q.eval(f64::INFINITY), 63.5);
        assert_eq!(q.value_enclosure(f64::NEG_INFINITY), (-64.0, -64.0));
        let relu = Quantize { scale: 0.05f32 as f64, zero_point: 0.0, qmin: 0.0, qmax: 255.0 };
        assert_eq!(relu.eval(-3.0), 0.0);
        assert_eq!(relu.eval(1e9), 255.0 * relu.scale);
        assert!(relu.eval(f64::NAN).is_nan());
    }

    /// Value enclosures, intervals, local slopes, the linear relaxation and
    /// the SDP facts hold for the exact quantiser (320-bit reference) and for
    /// the computed `eval` at dense samples, ties and their neighbours, on
    /// random intervals across both saturations.
    #[test]
    fn enclosures_relaxations_and_facts_hold_at_dense_samples_and_ties() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(41);
        let mut lines = 0;
        for q in quantisers() {
            for _ in 0..300 {
                let (l, u) = random_interval(&mut rng, &q);
                let (pl, pu) = q.interval(l, u);
                let r = q.linear_relaxation(l, u, pl, pu);
                lines += usize::from(r.upper_slope == 1.0) + usize::from(r.lower_slope == 1.0);
                let facts = q.neuron_facts(l, u, pl, pu);
                let (alpha, beta) = q.local_slope_bounds(l, u);
                for v in samples(&q, l, u) {
                    let exact_v = big(v);
                    let exact = q.exact_eval(&exact_v);
                    let (el, eu) = q.value_enclosure(v);
                    for a in [exact.clone(), big(q.eval(v))] {
                        assert!(big(el) <= a && a <= big(eu), "{v}: {a} outside [{el}, {eu}]");
                        assert!(big(pl) <= a && a <= big(pu), "[{l}, {u}] at {v}: {a} outside the interval [{pl}, {pu}]");
                        assert!(big(r.lower_slope) * exact_v.clone() + big(r.lower_intercept) <= a, "[{l}, {u}] at {v}: lower line above {a} ({r:?})");
                        assert!(big(r.upper_slope) * exact_v.clone() + big(r.upper_intercept) >= a, "[{l}, {u}] at {v}: upper line below {a} ({r:?})");
                        for fact in &facts {
                            let NeuronFact::NonNegative(e) = fact else { panic!("only linear facts: {fact:?}") };
                            assert_eq!(e.constant_error, 0.0);
                            let value = big(e.v_coef) * exact_v.clone() + big(e.a_coef) * a.clone() + big(e.constant);
                            assert!(value >= big(0.0), "[{l}, {u}] at {v} (a = {a}): {fact:?} fails");
                        }
                    }
                    if beta == 0.0 {
                        assert_eq!(alpha, 0.0);
                        assert_eq!(exact, q.exact_eval(&big(l)), "[{l}, {u}] declared constant");
                    }
                }
            }
        }
        assert!(lines > 500, "only {lines} lines: the relaxation is mostly constant");
    }

    /// On a wide unsaturated interval the relaxation is the band `v +- s/2`
    /// (up to the allowance for the computed quotient), not the constants.
    #[test]
    fn the_relaxation_is_the_half_step_band_inside_the_range() {
        let q = Quantize { scale: 0.25, zero_point: 0.0, qmin: -128.0, qmax: 127.0 };
        let (pl, pu) = q.interval(-3.0, 5.0);
        assert_eq!((pl, pu), (-3.0, 5.0));
        let r = q.linear_relaxation(-3.0, 5.0, pl, pu);
        assert_eq!((r.lower_slope, r.upper_slope), (1.0, 1.0));
        assert!(r.upper_intercept >= 0.125 && r.upper_intercept < 0.125 + 1e-14);
        assert_eq!(r.lower_intercept, -r.upper_intercept);
        // the interval starting below lo - s/2 = -32.125 keeps the constant floor
        let r = q.linear_relaxation(-33.0, -20.0, q.interval(-33.0, -20.0).0, q.interval(-33.0, -20.0).1);
        assert_eq!(r.upper_slope, 0.0);
        assert_eq!(r.lower_slope, 1.0);
    }

    /// `relu(v) - Q(v)` stays within `relu_gap` on random intervals (ties,
    /// saturation, both signs), for quantisers with a ReLU clamp; other zero
    /// points have no gap.
    #[test]
    fn relu_gap_encloses_the_difference_to_relu() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(99);
        for q in quantisers() {
            if q.zero_point != q.qmin {
                assert!(q.relu_gap(-1.0, 1.0).is_none());
                continue;
            }
            let top = q.scale * (q.qmax - q.zero_point);
            for _ in 0..200 {
                let a = rng.gen_range(-0.5 * top..1.5 * top);
                let b = rng.gen_range(-0.5 * top..1.5 * top);
                let (l, u) = (a.min(b), a.max(b));
                let (gap_lower, gap_upper) = q.relu_gap(l, u).unwrap();
                for v in samples(&q, l, u) {
                    let e = v.max(0.0) - q.eval(v);
                    assert!(e >= gap_lower && e <= gap_upper, "{v} in [{l}, {u}]: relu - Q = {e} outside [{gap_lower}, {gap_upper}]");
                }
            }
        }
    }
}
