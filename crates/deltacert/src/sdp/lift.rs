//! Lifting (docs/method.md §2): both networks in one vector
//!
//! ```text
//! zeta = [ x ; (x_g) ; a_f (unstable neurons) ; a_g (unstable neurons) ; 1 ]
//! ```
//!
//! Every pre-activation, every activation and the output difference
//! `Delta = y_f - y_g` is a linear form in `zeta`. Stable neurons of
//! piecewise-linear activations (`u <= 0`: `a = alpha v`; `l >= 0`: `a = v`)
//! and identity layers are substituted instead of getting a coordinate.

use super::form::LinearForm;
use crate::activation::Activation;
use crate::propagation::NetworkBounds;
use crate::network::Network;

/// Which network a neuron belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The reference network `f`.
    Reference,
    /// The compressed network `g`.
    Compressed,
}

use crate::problem::InputCoupling;

/// One neuron of either network (identity layers excluded).
#[derive(Debug, Clone)]
pub struct Neuron {
    /// Network of the neuron.
    pub side: Side,
    /// Layer (1-based).
    pub layer: usize,
    /// Index within the layer.
    pub index: usize,
    /// Its activation function.
    pub activation: Activation,
    /// Pre-activation `v` as a form.
    pub pre: LinearForm,
    /// Activation `a` as a form (a coordinate when unstable).
    pub post: LinearForm,
    /// `l <= v <= u`.
    pub pre_bounds: (f64, f64),
    /// Bounds of `a`.
    pub post_bounds: (f64, f64),
    /// Whether `a` has its own coordinate (otherwise it was substituted).
    pub variable: bool,
}

/// The lifted problem data.
#[derive(Debug, Clone)]
pub struct Lifted {
    /// Dimension `d` of `zeta`.
    pub dim: usize,
    /// Index of the constant coordinate (the last one).
    pub constant: usize,
    /// Coordinates of the input seen by `f`.
    pub input_f: Vec<usize>,
    /// Coordinates of the input seen by `g` (equal to `input_f` for [`InputCoupling::Same`]).
    pub input_g: Vec<usize>,
    /// Every non-identity neuron of both networks.
    pub neurons: Vec<Neuron>,
    /// `Delta_j = y_f,j - y_g,j` as forms.
    pub difference: Vec<LinearForm>,
    /// `|zeta_t| <= coordinate_magnitude[t]` over the feasible set.
    pub coordinate_magnitude: Vec<f64>,
    /// Pairs `(neuron of f, neuron of g)` (indices into `neurons`) that are the
    /// same neuron before compression.
    pub matches: Vec<(usize, usize)>,
}

impl Lifted {
    /// Number of neurons with their own coordinate.
    pub fn variable_neurons(&self) -> usize {
        self.neurons.iter().filter(|n| n.variable).count()
    }
}

/// Inputs whose interval is at most this wide are treated as points
/// ([`lift`]): `4 * f64::MIN_POSITIVE`, the width outward rounding gives a
/// coordinate fixed at 0.
const POINT_WIDTH: f64 = 4.0 * f64::MIN_POSITIVE;

fn is_stable(activation: Activation, lower: f64, upper: f64) -> Option<f64> {
    let slope = activation.piecewise_linear_slope()?;
    if lower >= 0.0 {
        Some(1.0)
    } else if upper <= 0.0 {
        Some(slope)
    } else {
        None
    }
}

/// Lifts `f` and `g` (no input transforms: coordinates are first-layer inputs)
/// with their interval bounds over the input box.
pub fn lift(f: &Network, g: &Network, bounds_f: &NetworkBounds, bounds_g: &NetworkBounds, coupling: &InputCoupling) -> Lifted {
    let n = f.input_dim;
    let separate_inputs = !matches!(coupling, InputCoupling::Same);
    let mut coordinate_magnitude: Vec<f64> = bounds_f.input_lower.iter().zip(&bounds_f.input_upper).map(|(l, u)| l.abs().max(u.abs())).collect();
    if separate_inputs {
        coordinate_magnitude.extend(bounds_g.input_lower.iter().zip(&bounds_g.input_upper).map(|(l, u)| l.abs().max(u.abs())));
    }
    // pass 1: coordinates of unstable neurons
    let mut next = coordinate_magnitude.len();
    let mut coordinate_of: Vec<Vec<Vec<Option<usize>>>> = Vec::new();
    for (net, bounds) in [(f, bounds_f), (g, bounds_g)] {
        let mut per_layer = Vec::new();
        for (layer, b) in net.layers.iter().zip(&bounds.layers) {
            let coords = (0..layer.width())
                .map(|i| {
                    let unstable = layer.activation != Activation::Identity && is_stable(layer.activation, b.pre_lower[i], b.pre_upper[i]).is_none();
                    unstable.then(|| {
                        coordinate_magnitude.push(b.post_lower[i].abs().max(b.post_upper[i].abs()));
                        next += 1;
                        next - 1
                    })
                })
                .collect();
            per_layer.push(coords);
        }
        coordinate_of.push(per_layer);
    }
    let constant = next;
    let dim = constant + 1;
    coordinate_magnitude.push(1.0);

    let input_f: Vec<usize> = (0..n).collect();
    let input_g: Vec<usize> = if separate_inputs { (n..2 * n).collect() } else { input_f.clone() };
    let mut neurons = Vec::new();
    let mut outputs = Vec::new();
    let mut first_neuron_of_layer: Vec<Vec<usize>> = Vec::new();
    for (side_index, (net, bounds)) in [(f, bounds_f), (g, bounds_g)].into_iter().enumerate() {
        let side = if side_index == 0 { Side::Reference } else { Side::Compressed };
        let inputs = if side_index == 0 { &input_f } else { &input_g };
        // an input confined to a point (up to the outward rounding of the
        // set, a few ulps around 0 for a coordinate fixed at 0) enters the
        // forms as its midpoint, its half-width as error: its coordinate
        // stays, unused, instead of a coordinate of range 1e-308 that a
        // solver can only pin down with huge multipliers
        let input_form = |k: usize, t: usize| -> LinearForm {
            let (l, u) = (bounds.input_lower[k], bounds.input_upper[k]);
            if u - l <= POINT_WIDTH && l.is_finite() && u.is_finite() {
                let middle = 0.5 * l + 0.5 * u;
                let half_width = (u - middle).max(middle - l).next_up();
                LinearForm { terms: if middle == 0.0 { Vec::new() } else { vec![(constant, middle)] }, error: half_width }
            } else {
                LinearForm::coordinate(t)
            }
        };
        let mut forms: Vec<Vec<LinearForm>> = vec![inputs.iter().enumerate().map(|(k, &t)| input_form(k, t)).collect()];
        let mut starts = Vec::new();
        for (k, (layer, b)) in net.layers.iter().zip(&bounds.layers).enumerate() {
            starts.push(neurons.len());
            let mut layer_forms = Vec::with_capacity(layer.width());
            for i in 0..layer.width() {
                let mut parts: Vec<(f64, &LinearForm)> = Vec::new();
                for term in &layer.terms {
                    for (j, &w) in term.weights.row(i).iter().enumerate() {
                        parts.push((w, &forms[term.source][j]));
                    }
                }
                let pre = LinearForm::combine(&parts, layer.bias[i], constant, &coordinate_magnitude, dim);
                let (lower, upper) = (b.pre_lower[i], b.pre_upper[i]);
                let post = match (layer.activation, coordinate_of[side_index][k][i]) {
                    (Activation::Identity, _) => pre.clone(),
                    (_, Some(t)) => LinearForm::coordinate(t),
                    (activation, None) => pre.scaled(is_stable(activation, lower, upper).expect("stable"), &coordinate_magnitude),
                };
                if layer.activation != Activation::Identity {
                    neurons.push(Neuron {
                        side,
                        layer: k + 1,
                        index: i,
                        activation: layer.activation,
                        pre,
                        post: post.clone(),
                        pre_bounds: (lower, upper),
                        post_bounds: (b.post_lower[i], b.post_upper[i]),
                        variable: coordinate_of[side_index][k][i].is_some(),
                    });
                }
                layer_forms.push(post);
            }
            forms.push(layer_forms);
        }
        first_neuron_of_layer.push(starts);
        outputs.push(forms.pop().expect("networks have layers"));
    }
    let outputs_g = outputs.pop().unwrap();
    let outputs_f = outputs.pop().unwrap();
    let difference = outputs_f
        .iter()
        .zip(&outputs_g)
        .map(|(yf, yg)| LinearForm::combine(&[(1.0, yf), (-1.0, yg)], 0.0, constant, &coordinate_magnitude, dim))
        .collect();

    // neuron i of f and its counterpart in g (one pairing for every method)
    let mut matches = Vec::new();
    for (k, map) in crate::problem::neuron_map(f, g).unwrap_or_default().into_iter().enumerate() {
        let Some(map) = map.filter(|_| crate::problem::has_activation(f.layers[k].activation)) else { continue };
        for (j, i) in map.into_iter().enumerate() {
            matches.push((first_neuron_of_layer[0][k] + i, first_neuron_of_layer[1][k] + j));
        }
    }
    Lifted { dim, constant, input_f, input_g, neurons, difference, coordinate_magnitude, matches }
}
