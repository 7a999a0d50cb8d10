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
//! two lines where valid (docs/method.md §3). No ONNX operator of its own:
//! the writer writes a `QuantizeLinear`/`DequantizeLinear` pair and the
//! reader reads the pair ([`crate::io::onnx`]).
//!
//! **Mixed-integer encoding** (the MILP, docs/method.md §10). Write `m = k -
//! z` for the level offset, `m_lo = qmin - z`, `m_hi = qmax - z`, so that `a
//! = s m`, `lo = s m_lo`, `hi = s m_hi`. `Q` is monotone, so on `[l, u]` the
//! offsets reached lie in `[m_l, m_u]`, the levels of the quotient
//! enclosures of `l` and `u`; a single level is the constant `a = s m_l`.
//! Otherwise the columns are the integer `m in [m_l, m_u]` (the activation is
//! `a = s m`) and, only where needed, binaries `t` (top saturation) and `b`
//! (bottom saturation), with the rows
//!
//! ```text
//! v - s m <= c + M_t t,            M_t = u - (hi + c)   (t only if m_u = m_hi and u > hi + c)
//! v - s m >= -c - M_b b,           M_b = (lo - c) - l   (b only if m_l = m_lo and l < lo - c)
//! m >= m_l + (m_hi - m_l) t,       m <= m_u - (m_u - m_lo) b,
//! ```
//!
//! `c` the half step of the linear relaxation, the big-M constants rounded
//! up and the conditions tested against rounded thresholds. *Sound*: at the
//! true level, an unsaturated `m` is `n = rne(v / s)`, so `|v - s m| <= s/2
//! <= c` with `t = b = 0`. At the top `m = m_hi` exactly when `n >= m_hi`,
//! i.e. `v >= hi - s/2`, so the second row holds; the first holds with `t =
//! 0` up to `hi + c`, and beyond it (only when `u > hi + c`) with `t = 1`,
//! which the link row allows since `m = m_hi`, and `M_t` lifts the cap to
//! `u`. The bottom is symmetric. *Exact*: `t = 1` forces `m = m_hi` (link)
//! and `b = 1` forces `m = m_lo`, and then the one band row left, `v >= hi -
//! c` resp. `v <= lo + c`, is exactly the saturated region; with `t = b = 0`
//! both band rows hold, so `|v / s - m| <= c / s`: `m` is the rounding of `v
//! / s`. Where a binary is left out its band row holds on all of `[l, u]`
//! (`u <= hi + c`, `l >= lo - c`, or the saturated level is not reached). So
//! for every `v in [l, u]` the feasible levels are the true one and, only
//! within `c - s/2` of a tie `s (n + 1/2)`, its other neighbour.
//!
//! *Ties are relaxed, soundly.* At a tie both neighbours are feasible
//! although `rne` picks the even one: the encoding holds the two one-sided
//! limits of `Q` at its jump, so the MILP's optimum is the supremum of the
//! error over the set, the worst case of a network that jumps (it exceeds the
//! supremum only where jumps of different neurons meet at one input in a
//! combination no nearby input realises; the MILP merges identical neurons,
//! so a quantiser both networks share cannot). The widening `c - s/2 = u
//! max(|l|, |u|)` is the allowance for the computed quotient `fl(v / s)` (the
//! same as in the relaxation and the facts): the rows hold for the exact `Q`
//! of the IR and for the computed [`ActivationRule::eval`], and admit the
//! other neighbour only that close to a tie. They are not widened for a
//! float32 quotient (onnxruntime's): what is bounded is the network as read,
//! in exact arithmetic (docs/method.md §11); a float32 run also rounds every
//! product and sum before the quantiser, so a wider band alone would not make
//! the bound hold for it either.
//!
//! The witness rows (used only to place the MILP's incumbent) are the band
//! rows at the ties themselves, `c` replaced by `s/2` and the big-M
//! constants by `M + s`. The MILP requires them to hold a margin `mu` inside
//! (`|v - s m| <= s/2 - mu` for an unsaturated level): with the integer
//! columns fixed, `v` is then that far inside the chosen level's region, and
//! once `mu > c - s/2` both the exact and the computed quotient round to the
//! chosen level, so the input found evaluates (rigorously) to it.
use super::mixed_integer::{EncodingColumn, MixedIntegerEncoding, NeuronRow};
use super::relaxation::{LinearBounds, RelaxationFamily};
use super::{Activation, ActivationRule, NeuronAffine, NeuronFact, OnnxActivation};
use crate::rounding::{add_down, add_up, mul_up, sub_down, sub_up, UNIT_ROUNDOFF};

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
    /// Bounds `(e_lo, e_hi)` on the gap `e = sigma(v) - Q(v)` over `v in [l,
    /// u]`, where `sigma` is the activation of the neuron this quantiser is
    /// paired with: the identity (`relu = false`, any zero point: an input or
    /// output `QuantizeLinear` of a float tensor) or a ReLU (`relu = true`,
    /// only for `z = qmin`, a folded ReLU; None otherwise).
    ///
    /// - *Identity.* From the module's lines, `e >= -c` when `l >= lo - s/2`
    ///   and `e <= c` when `u <= hi + s/2`; beyond the saturation `Q = lo`
    ///   resp. `hi`, so `e >= l - lo` resp. `e <= u - hi`.
    /// - *ReLU.* Below 0 both are 0 (`Q(v) = lo = 0`); from 0 up to `hi + s/2`
    ///   round to nearest keeps `|e| <= c`; above it `Q = hi` and `e = v - hi
    ///   <= u - hi`.
    ///
    /// Both `sigma` and `Q` are non-decreasing, so also `sigma(l) - Q(u) <= e
    /// <= sigma(u) - Q(l)` (with the enclosures of `Q(u)`, `Q(l)`): the band
    /// shrinks to the width of `[l, u]` where `Q` is one level there.
    pub(super) fn gap(&self, relu: bool, lower: f64, upper: f64) -> Option<(f64, f64)> {
        if relu && self.zero_point != self.qmin {
            return None;
        }
        let c = self.half_step(lower, upper);
        if !c.is_finite() || lower.is_nan() || upper.is_nan() {
            return None;
        }
        let top = if self.lower_line_valid(upper) { c } else { c.max(sub_up(upper, self.level_value(self.qmax).0)) };
        let bottom = if relu || self.upper_line_valid(lower) { -c } else { (-c).min(sub_down(lower, self.level_value(self.qmin).1)) };
        let sigma = |v: f64| if relu { v.max(0.0) } else { v };
        let (lowest, highest) = (self.value_enclosure(lower).0, self.value_enclosure(upper).1);
        let (monotone_bottom, monotone_top) = (sub_down(sigma(lower), highest), sub_up(sigma(upper), lowest));
        let bottom = if monotone_bottom > bottom { monotone_bottom } else { bottom };
        let top = if monotone_top < top { monotone_top } else { top };
        (bottom.is_finite() && top.is_finite() && bottom <= top).then_some((bottom, top))
    }
}

impl Quantize {
    /// The mixed-integer encoding of `a = Q(v)` on `[lower, upper]` (module
    /// docs): columns `m` (integer level offset), then `t` and `b` where
    /// needed; `a = s m`.
    fn level_encoding(&self, lower: f64, upper: f64) -> MixedIntegerEncoding {
        let s = self.scale;
        let (lowest, highest) = (self.qmin - self.zero_point, self.qmax - self.zero_point);
        let first = self.level(self.quotient_enclosure(lower).0) - self.zero_point;
        let last = self.level(self.quotient_enclosure(upper).1) - self.zero_point;
        if first == last {
            // one level on the whole interval (exact for a float32 scale)
            return MixedIntegerEncoding::Affine { slope: 0.0, intercept: s * first };
        }
        let c = self.half_step(lower, upper);
        let (lo_upper, hi_lower) = (self.level_value(self.qmin).1, self.level_value(self.qmax).0);
        // big-M constants (0: no binary); `!(x <= y)` keeps NaN on the safe side
        let top = if last == highest && !(upper <= add_down(hi_lower, c)) { sub_up(upper, add_down(hi_lower, c)) } else { 0.0 };
        let bottom = if first == lowest && !(lower >= sub_up(lo_upper, c)) { sub_up(sub_up(lo_upper, c), lower) } else { 0.0 };
        let mut columns = vec![EncodingColumn::integer(first, last)];
        let top_column = (top > 0.0).then(|| {
            columns.push(EncodingColumn::binary());
            columns.len() - 1
        });
        let bottom_column = (bottom > 0.0).then(|| {
            columns.push(EncodingColumn::binary());
            columns.len() - 1
        });
        let width = columns.len();
        let row = |pre_activation: f64, coefficients: &[(usize, f64)], lower: f64, upper: f64| {
            let mut columns = vec![0.0; width];
            coefficients.iter().for_each(|&(i, x)| columns[i] = x);
            NeuronRow { pre_activation, columns, lower, upper }
        };
        // v - s m - M_t t <= half, v - s m + M_b b >= -half
        let band = |half: f64, extra: f64| {
            let mut upper_side = vec![(0, -s)];
            upper_side.extend(top_column.map(|i| (i, -(top + extra))));
            let mut lower_side = vec![(0, -s)];
            lower_side.extend(bottom_column.map(|i| (i, bottom + extra)));
            vec![row(1.0, &upper_side, f64::NEG_INFINITY, half), row(1.0, &lower_side, -half, f64::INFINITY)]
        };
        let mut rows = band(c, 0.0);
        if let Some(t) = top_column {
            // m - (m_hi - m_l) t >= m_l
            rows.push(row(0.0, &[(0, 1.0), (t, -(highest - first))], first, f64::INFINITY));
        }
        if let Some(b) = bottom_column {
            // m + (m_u - m_lo) b <= m_u
            rows.push(row(0.0, &[(0, 1.0), (b, last - lowest)], f64::NEG_INFINITY, last));
        }
        // the ties themselves; the MILP asks for them to hold with a margin
        let witness_rows = band(0.5 * s, s);
        MixedIntegerEncoding::Columns { columns, activation: std::iter::once(s).chain(std::iter::repeat(0.0)).take(width).collect(), rows, witness_rows }
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
    fn mixed_integer_encoding(&self, lower: f64, upper: f64) -> Option<MixedIntegerEncoding> {
        Some(self.level_encoding(lower, upper))
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

    /// The quantisers of the tests and one whose scale is an f64 value (0.1,
    /// no float32): the computed quotient `fl(v / s)` then rounds across a
    /// tie at some doubles next to it, which the widened band must cover.
    fn with_f64_scale() -> Vec<Quantize> {
        let mut all = quantisers();
        all.push(Quantize { scale: 0.1, zero_point: 0.0, qmin: -128.0, qmax: 127.0 });
        all
    }

    /// Whether the rows (and, with `witness = Some(mu)`, the witness rows
    /// `mu` inside their ends) hold at `(v, values)` in exact arithmetic, no
    /// tolerance.
    fn rows_hold_exactly(encoding: &MixedIntegerEncoding, v: f64, values: &[f64], witness: Option<f64>) -> bool {
        let MixedIntegerEncoding::Columns { columns, rows, witness_rows, .. } = encoding else { panic!("no columns") };
        let in_range = columns.iter().zip(values).all(|(c, &x)| x >= c.lower && x <= c.upper && x == x.round());
        let chosen: Vec<(&NeuronRow, f64)> = rows.iter().map(|row| (row, 0.0)).chain(witness_rows.iter().filter_map(|row| witness.map(|mu| (row, mu)))).collect();
        in_range
            && chosen.iter().all(|&(row, inside)| {
                let value = row.columns.iter().zip(values).fold(big(row.pre_activation) * big(v), |sum, (c, x)| sum + big(*c) * big(*x));
                (row.lower == f64::NEG_INFINITY || value >= big(row.lower) + big(inside)) && (row.upper == f64::INFINITY || value <= big(row.upper) - big(inside))
            })
    }

    /// Whether some assignment of the binaries makes `(v, m)` satisfy the
    /// rows (and the witness rows) exactly. A violation by more than `1e-9`
    /// in f64 is one in exact arithmetic too, so that screen comes first.
    fn admits_exactly(encoding: &MixedIntegerEncoding, v: f64, m: f64, witness: Option<f64>) -> bool {
        let MixedIntegerEncoding::Columns { columns, rows, witness_rows, activation } = encoding else { panic!("no columns") };
        let screen = MixedIntegerEncoding::Columns { columns: columns.clone(), activation: activation.clone(), rows: rows.iter().chain(witness_rows.iter().filter(|_| witness.is_some())).cloned().collect(), witness_rows: Vec::new() };
        with_binaries(encoding, m).iter().any(|values| screen.satisfied_by(v, values, 1e-9) && rows_hold_exactly(encoding, v, values, witness))
    }

    /// The offset level `m` of an activation value `a = s m`, checked exact.
    fn offset(q: &Quantize, a: &dashu_float::FBig) -> f64 {
        let m = (a.to_f64().value() / q.scale).round();
        assert_eq!(big(q.scale) * big(m), *a, "{a} is no level of {}", q.scale);
        m
    }

    /// Every assignment of the binary columns after the level, with the level `m`.
    fn with_binaries(encoding: &MixedIntegerEncoding, m: f64) -> Vec<Vec<f64>> {
        let MixedIntegerEncoding::Columns { columns, .. } = encoding else { panic!("no columns") };
        (0..1usize << (columns.len() - 1)).map(|bits| std::iter::once(m).chain((0..columns.len() - 1).map(|i| ((bits >> i) & 1) as f64)).collect()).collect()
    }

    /// The MILP encoding holds in exact arithmetic (no tolerance) for the
    /// exact quantiser and for the computed `eval` at dense samples, every
    /// tie and its neighbouring doubles, on random intervals across both
    /// saturations: the rows cover the f64 quotient, not only the exact
    /// one. Its columns are the reached levels only, and it admits no level
    /// but the true one and, at a tie, its neighbour.
    #[test]
    fn mixed_integer_encoding_holds_exactly_at_ties_and_saturations() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (mut saturated_top, mut saturated_bottom, mut ties) = (0, 0, 0);
        for q in with_f64_scale() {
            for _ in 0..150 {
                let (l, u) = random_interval(&mut rng, &q);
                let encoding = q.mixed_integer_encoding(l, u).expect("an encoding");
                let points = samples(&q, l, u);
                if let MixedIntegerEncoding::Affine { slope, intercept } = encoding {
                    assert_eq!(slope, 0.0);
                    let m = (intercept / q.scale).round();
                    assert_eq!(intercept, q.scale * m);
                    for &v in &points {
                        assert_eq!(offset(&q, &q.exact_eval(&big(v))), m, "[{l}, {u}] at {v}: not the one level {intercept}");
                        assert_eq!(q.level(v / q.scale) - q.zero_point, m, "[{l}, {u}] at {v}: not the one level {intercept} (computed quotient)");
                    }
                    continue;
                }
                let MixedIntegerEncoding::Columns { columns, activation, .. } = &encoding else { unreachable!() };
                assert_eq!(activation[0], q.scale);
                let (first, last) = (columns[0].lower, columns[0].upper);
                // the reached levels, or one more where an end is within rounding of a tie
                let (at_l, at_u) = (offset(&q, &q.exact_eval(&big(l))), offset(&q, &q.exact_eval(&big(u))));
                assert!(first <= at_l && at_l <= first + 1.0 && last - 1.0 <= at_u && at_u <= last, "[{l}, {u}]: levels [{first}, {last}] for the reached [{at_l}, {at_u}]");
                saturated_top += usize::from(columns.len() > 1 && encoding_has_link(&encoding, true));
                saturated_bottom += usize::from(columns.len() > 1 && encoding_has_link(&encoding, false));
                for &v in &points {
                    let exact = q.exact_eval(&big(v));
                    // the exact level, and the level of the computed quotient that `eval` takes
                    for (m, which) in [(offset(&q, &exact), "exact"), (q.level(v / q.scale) - q.zero_point, "computed")] {
                        assert!(admits_exactly(&encoding, v, m, None), "[{l}, {u}] at {v}: the {which} level {m} violates {encoding:?}");
                    }
                    // no other level is admitted, but the neighbour at a tie
                    // (the levels near v and both ends; the generic test of
                    // activation/mod.rs tries every level)
                    let m = offset(&q, &exact);
                    for other in [m - 2.0, m - 1.0, m + 1.0, m + 2.0, first, last] {
                        if other == m || other < first || other > last || !admits_exactly(&encoding, v, other, None) {
                            continue;
                        }
                        let tie = big(q.scale) * (big(m) + big(other)) / big(2.0);
                        let distance = if big(v) > tie.clone() { big(v) - tie } else { tie - big(v) };
                        assert!((other - m).abs() == 1.0 && distance <= big(q.half_step(l, u) - 0.5 * q.scale), "[{l}, {u}] at {v}: level {other} admitted besides {m}");
                        ties += 1;
                    }
                }
            }
        }
        assert!(saturated_top >= 50 && saturated_bottom >= 50, "saturation binaries: {saturated_top} top, {saturated_bottom} bottom");
        assert!(ties >= 100, "only {ties} ties admitted both neighbours");
    }

    /// Whether the encoding has the link row of the top (`m - (m_hi - m_l)
    /// t >= m_l`, a finite lower end) or the bottom saturation (a finite upper end).
    fn encoding_has_link(encoding: &MixedIntegerEncoding, top: bool) -> bool {
        let MixedIntegerEncoding::Columns { rows, .. } = encoding else { return false };
        rows.iter().any(|row| row.pre_activation == 0.0 && if top { row.lower.is_finite() } else { row.upper.is_finite() })
    }

    /// A point that satisfies the witness rows with the MILP's smallest
    /// margin, with its integer columns, is inside the level it chose: the
    /// exact quantiser and the computed `eval` both take that level there
    /// (checked exactly at ties, their neighbours and points a margin away),
    /// and a level's centre satisfies them.
    #[test]
    fn witness_rows_keep_the_point_inside_its_level() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut inside = 0;
        for q in with_f64_scale() {
            for _ in 0..60 {
                let (l, u) = random_interval(&mut rng, &q);
                let encoding = q.mixed_integer_encoding(l, u).expect("an encoding");
                let MixedIntegerEncoding::Columns { columns, .. } = &encoding else { continue };
                // the smallest margin the MILP asks for (milp.rs)
                let margin = 1e-11 * (1.0 + l.abs().max(u.abs()));
                let mut points = samples(&q, l, u);
                let extra: Vec<f64> = points.iter().flat_map(|&v| [v + margin, v - margin]).filter(|v| *v >= l && *v <= u).collect();
                points.extend(extra);
                let (first, last) = (columns[0].lower, columns[0].upper);
                for &v in &points {
                    let m = offset(&q, &q.exact_eval(&big(v)));
                    for m in [m - 2.0, m - 1.0, m, m + 1.0, m + 2.0, first, last] {
                        if m < first || m > last {
                            continue;
                        }
                        if admits_exactly(&encoding, v, m, Some(margin)) {
                            assert_eq!(q.exact_eval(&big(v)), big(q.scale) * big(m), "[{l}, {u}] at {v}: witness rows admit level {m}");
                            assert_eq!(q.level(v / q.scale) - q.zero_point, m, "[{l}, {u}] at {v}: witness rows admit level {m} (computed quotient)");
                            inside += 1;
                        }
                    }
                }
                // the centre of every reached unsaturated level satisfies them
                for m in columns[0].lower as i64..=columns[0].upper as i64 {
                    let centre = q.scale * m as f64;
                    if centre >= l && centre <= u {
                        assert!(admits_exactly(&encoding, centre, m as f64, Some(margin)), "[{l}, {u}]: the centre {centre} of level {m} is excluded");
                    }
                }
            }
        }
        assert!(inside >= 5_000, "only {inside} admissions checked");
    }

    /// `sigma(v) - Q(v)` stays within `gap` for the identity and the ReLU,
    /// in exact arithmetic, on random intervals (ties, saturation, both
    /// signs, widths from a hundredth of a step to the whole range); a ReLU
    /// against other zero points has no gap.
    #[test]
    fn gap_encloses_the_exact_difference() {
        use crate::rounding::exact::big;
        let mut rng = rand::rngs::StdRng::seed_from_u64(99);
        let mut narrow = 0;
        for q in quantisers() {
            if q.zero_point != q.qmin {
                assert!(q.gap(true, -1.0, 1.0).is_none());
            }
            let (lo, hi) = (q.scale * (q.qmin - q.zero_point), q.scale * (q.qmax - q.zero_point));
            for relu in [false, true] {
                if relu && q.zero_point != q.qmin {
                    continue;
                }
                for case in 0..300 {
                    let span = hi - lo;
                    let a = rng.gen_range(lo - 0.3 * span..hi + 0.3 * span);
                    let width = [0.01 * q.scale, 0.7 * q.scale, 3.0 * q.scale, span][case % 4] * rng.gen_range(0.0..1.0);
                    let (l, u) = (a, a + width);
                    let (gap_lower, gap_upper) = q.gap(relu, l, u).unwrap();
                    if gap_upper - gap_lower < q.scale {
                        narrow += 1;
                    }
                    for v in samples(&q, l, u) {
                        let sigma = if relu { big(v.max(0.0)) } else { big(v) };
                        let e = sigma - q.exact_eval(&big(v));
                        assert!(big(gap_lower) <= e && e <= big(gap_upper), "relu {relu}, {v} in [{l}, {u}]: gap outside [{gap_lower}, {gap_upper}]");
                    }
                }
            }
        }
        assert!(narrow >= 200, "only {narrow} gaps narrower than a step: the monotone bound is not exercised");
    }
}
