//! Exact evaluation of piecewise-linear networks at one input.
//!
//! Every double is a dyadic rational `m 2^e` (an integer mantissa `m`, an
//! integer exponent `e`), and sums and products of dyadic rationals are
//! dyadic rationals again. A network whose activations are the identity,
//! ReLU or leaky ReLU (a dyadic slope) and that has no input transform (whose
//! division by a range is not exact) maps a double input to dyadic outputs,
//! computed here exactly with big integers. Interval arithmetic at one point
//! widens with every layer (its enclosures grow with the products of the
//! weights' magnitudes, the values with the products of the weights): on a
//! deep network it can lose an error of millions in outputs near 1e12. The
//! exact values lose nothing, and the exact difference, rounded down,
//! is a rigorous lower bound on the error there ([`crate::bound`]).

use super::Network;
use crate::activation::Activation;
use num_bigint::BigInt;
use num_traits::{Signed, Zero};

/// `mantissa 2^exponent`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dyadic {
    mantissa: BigInt,
    exponent: i64,
}

impl Dyadic {
    /// The exact value of a finite double (None for NaN and infinities).
    pub fn from_f64(x: f64) -> Option<Dyadic> {
        if !x.is_finite() {
            return None;
        }
        if x == 0.0 {
            return Some(Dyadic { mantissa: BigInt::zero(), exponent: 0 });
        }
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1u64 << 52) - 1);
        // subnormals have no implicit bit and the exponent of the smallest normal
        let (significand, exponent) = if biased == 0 { (fraction, -1074) } else { (fraction | (1u64 << 52), biased - 1075) };
        let magnitude = BigInt::from(significand);
        Some(Dyadic { mantissa: if x < 0.0 { -magnitude } else { magnitude }, exponent })
    }

    fn add(&self, other: &Dyadic) -> Dyadic {
        if self.mantissa.is_zero() {
            return other.clone();
        }
        if other.mantissa.is_zero() {
            return self.clone();
        }
        let exponent = self.exponent.min(other.exponent);
        let align = |d: &Dyadic| &d.mantissa << ((d.exponent - exponent) as u64);
        Dyadic { mantissa: align(self) + align(other), exponent }
    }

    fn mul(&self, other: &Dyadic) -> Dyadic {
        Dyadic { mantissa: &self.mantissa * &other.mantissa, exponent: self.exponent + other.exponent }
    }

    fn negative(&self) -> bool {
        self.mantissa.is_negative()
    }

    /// `self - other`.
    pub fn sub(&self, other: &Dyadic) -> Dyadic {
        self.add(&Dyadic { mantissa: -&other.mantissa, exponent: other.exponent })
    }

    /// A double at most `|self|` (the exact magnitude rounded down; 0 below
    /// the normal range, the largest double above it).
    pub fn magnitude_down(&self) -> f64 {
        let magnitude = self.mantissa.abs();
        let bits = magnitude.bits() as i64;
        if bits == 0 {
            return 0.0;
        }
        // the leading 53 bits, the rest cut off (toward zero, so down)
        let shift = (bits - 53).max(0);
        let leading: u64 = (&magnitude >> (shift as u64)).try_into().expect("at most 53 bits");
        let exponent = self.exponent + shift;
        // leading < 2^53: the value is leading 2^exponent, a normal double when
        // its top bit's exponent lies in the normal range
        let top = exponent + 64 - i64::from(leading.leading_zeros()) - 1;
        if top < -1022 {
            0.0
        } else if top > 1023 {
            f64::MAX
        } else {
            // two exact scalings keep every intermediate normal
            let half = exponent / 2;
            leading as f64 * 2f64.powi(half as i32) * 2f64.powi((exponent - half) as i32)
        }
    }
}

/// Mantissas longer than this many bits end an exact evaluation (None):
/// exponents far apart (a subnormal weight beside normal values) make sums
/// thousands of bits long, and a long chain of them would take minutes.
pub const MAX_MANTISSA_BITS: u64 = 1 << 14;

/// The exact outputs of `network` at the input `x` (its first-layer
/// coordinates are `x` itself), or None when a layer's activation is not
/// the identity, ReLU or leaky ReLU, the network has an input transform or a
/// softmax output, a value is not finite, or a mantissa grows past
/// [`MAX_MANTISSA_BITS`].
pub fn exact_outputs(network: &Network, x: &[f64]) -> Option<Vec<Dyadic>> {
    if network.input_transform.is_some() || network.output_softmax || x.len() != network.input_dim {
        return None;
    }
    let mut activations: Vec<Vec<Dyadic>> = vec![x.iter().map(|&v| Dyadic::from_f64(v)).collect::<Option<_>>()?];
    for layer in &network.layers {
        let slope_below = match layer.activation {
            Activation::Identity => None,
            Activation::Relu => Some(Dyadic::from_f64(0.0)?),
            Activation::LeakyRelu { alpha } => Some(Dyadic::from_f64(alpha)?),
            _ => return None,
        };
        let mut outputs = Vec::with_capacity(layer.width());
        for i in 0..layer.width() {
            let mut v = Dyadic::from_f64(layer.bias[i])?;
            for term in &layer.terms {
                let source = activations.get(term.source)?;
                for (w, a) in term.weights.row(i).iter().zip(source) {
                    if *w != 0.0 {
                        v = v.add(&Dyadic::from_f64(*w)?.mul(a));
                    }
                }
            }
            let a = match &slope_below {
                Some(slope) if v.negative() => slope.mul(&v),
                _ => v,
            };
            if a.mantissa.bits() > MAX_MANTISSA_BITS {
                return None;
            }
            outputs.push(a);
        }
        activations.push(outputs);
    }
    activations.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_are_read_exactly_and_magnitudes_round_down() {
        for x in [1.0, -0.1, 3.5e-300, 5e-324, f64::MAX, -1.7e308, 123456.789] {
            let d = Dyadic::from_f64(x).unwrap();
            assert_eq!(d.magnitude_down(), if x.abs() < f64::MIN_POSITIVE { 0.0 } else { x.abs() }, "{x}");
        }
        // 0.1 + 0.2 - 0.3 is 2^-55 exactly (floating point gives 2^-54)
        let sum = Dyadic::from_f64(0.1).unwrap().add(&Dyadic::from_f64(0.2).unwrap()).sub(&Dyadic::from_f64(0.3).unwrap());
        assert_eq!(sum.magnitude_down(), 2f64.powi(-55));
        // 1 + 2^-60 has no double: rounded down to 1
        let one_and_a_bit = Dyadic::from_f64(1.0).unwrap().add(&Dyadic::from_f64(2f64.powi(-60)).unwrap());
        assert_eq!(one_and_a_bit.magnitude_down(), 1.0);
        // 1 + 2^-52 - 2^-80 lies just below a double: truncated to 1, where
        // rounding to nearest would give 1 + 2^-52; negative values likewise
        let below = Dyadic::from_f64(1.0 + f64::EPSILON).unwrap().sub(&Dyadic::from_f64(2f64.powi(-80)).unwrap());
        assert_eq!(below.magnitude_down(), 1.0);
        let negative = Dyadic::from_f64(2f64.powi(-80)).unwrap().sub(&Dyadic::from_f64(1.0 + f64::EPSILON).unwrap());
        assert_eq!(negative.magnitude_down(), 1.0);
        let product = Dyadic::from_f64(1.5e300).unwrap().mul(&Dyadic::from_f64(1e10).unwrap());
        assert_eq!(product.magnitude_down(), f64::MAX);
    }
}
