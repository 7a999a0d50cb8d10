//! Turning the input-set and coupling flags into library objects.

use crate::args::{CouplingArgs, InputSetArgs};
use deltacert::error::{Error, ErrorKind};
use deltacert::input_set::{Enclosure, InputSet};
use deltacert::io::json;
use deltacert::io::vnnlib::{self, decimal_enclosure};
use deltacert::network::Network;
use deltacert::rounding::two_sum;
use deltacert::problem::InputCoupling;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOption, msg)
}

/// The input set in raw units, for a network with `dim` inputs: a single
/// box, ball or polytope. A `--vnnlib` file whose constraints are a union of
/// several boxes is refused here; [`input_sets`] returns every box.
pub fn input_set(args: &InputSetArgs, network: &Network) -> deltacert::Result<InputSet> {
    let mut sets = input_sets(args, network)?;
    if sets.len() != 1 {
        let file = args.vnnlib.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        return Err(invalid(format!("--vnnlib {file} is a union of {} boxes; this command bounds one box at a time", sets.len())));
    }
    Ok(sets.remove(0))
}

/// The input sets in raw units: every box of the union a `--vnnlib` file
/// describes, or the one set the other flags give.
///
/// Every set contains the one the user wrote: decimals that have no exact
/// binary value (in `--box`, `--box-file`, `--vnnlib`, `--center`,
/// `--radius`, `--polytope`) are enclosed and the set bounded rounded
/// outward, and so are the corners `c - r`, `c + r` of a ball and the
/// conversion of normalised bounds to raw units; the set written (rounded
/// inward) is what every witness is checked against
/// ([`deltacert::input_set`], "Decimals").
pub fn input_sets(args: &InputSetArgs, network: &Network) -> deltacert::Result<Vec<InputSet>> {
    let dim = network.input_dim;
    let l2 = args.ball.as_deref() == Some("l2");
    let normalized = args.input_space.as_deref() == Some("normalized");
    // boxes as (lower, upper) enclosures, or a ball (centre enclosures, radius enclosure)
    if args.center.is_none() && (args.radius.is_some() || args.ball.is_some()) {
        return Err(invalid("--radius and --ball describe a ball around --center; give --center FILE too"));
    }
    let mut boxes: Vec<(Vec<Enclosure>, Vec<Enclosure>)> = Vec::new();

    let mut ball = None;
    if let Some(text) = &args.box_range {
        let parts: Vec<&str> = text.split(',').collect();
        if parts.len() != 2 {
            return Err(invalid(format!("--box {text}: expected LO,HI")));
        }
        let parse = |s: &str| decimal_enclosure(s.trim()).ok_or_else(|| invalid(format!("--box {text}: '{s}' is not a number")));
        let (lo, hi) = (parse(parts[0])?, parse(parts[1])?);
        // compared as written: decimals that round to the same double can still be inverted
        if vnnlib::compare_decimals(parts[0], parts[1]) == Some(std::cmp::Ordering::Greater) {
            return Err(Error::new(ErrorKind::InvalidInputSet, format!("--box {text}: inverted: lower {} > upper {}", parts[0].trim(), parts[1].trim())));
        }
        boxes.push((vec![lo; dim], vec![hi; dim]));
    } else if let Some(path) = &args.box_file {
        boxes.push(json::read_box(path)?);
    } else if let Some(path) = &args.vnnlib {
        let text = std::fs::read_to_string(path).map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {}: {e}", path.display())))?;
        boxes = vnnlib::read_input_bounds(&text, dim).map_err(|e| e.within(path.display()))?;
    } else if let Some(path) = &args.center {
        let center = json::read_center(path)?;
        let text = args.radius.as_deref().unwrap_or("0");
        let mut radius = decimal_enclosure(text.trim()).ok_or_else(|| invalid(format!("--radius {text}: not a number")))?;
        // a decimal without a sign is at least 0, however close to it (1e-400)
        if !text.trim().starts_with('-') {
            radius.0 = radius.0.max(0.0);
        }
        if radius.0 >= 0.0 && text.trim().parse::<f64>().is_ok_and(f64::is_finite) && !radius.1.is_finite() {
            return Err(Error::new(ErrorKind::InvalidInputSet, format!("--radius {text} is too large: no finite double lies above it")));
        }
        if !(radius.0 >= 0.0) || !radius.1.is_finite() {
            return Err(Error::new(ErrorKind::InvalidInputSet, format!("--radius {text}: must be a finite number >= 0")));
        }
        ball = Some((center, radius));
    } else {
        return Err(invalid("no input set: give --box LO,HI, --box-file, --vnnlib or --center with --radius"));
    }
    let name = |what: &str| match (&args.box_file, &args.vnnlib, &args.center) {
        (Some(p), _, _) | (None, Some(p), _) | (None, None, Some(p)) => format!("{}: {what}", p.display()),
        _ => what.to_string(),
    };
    let lengths = boxes.iter().map(|(l, u)| (l.len(), u.len())).chain(ball.iter().map(|(c, _)| (c.len(), c.len())));
    for (lower, upper) in lengths {
        if lower != upper {
            return Err(Error::new(ErrorKind::InvalidInputSet, name(&format!("box has {lower} lower and {upper} upper bounds"))));
        }
        if lower != dim {
            return Err(Error::new(ErrorKind::ShapeMismatch, name(&format!("the input set has {lower} coordinates but the networks take {dim}"))));
        }
    }
    if normalized {
        let Some(t) = &network.input_transform else {
            return Err(invalid("--input-space normalized needs a model with input normalisation (.nnet)"));
        };
        if ball.is_some() || args.polytope.is_some() {
            return Err(invalid("--input-space normalized supports boxes and --box-file, --vnnlib boxes only"));
        }
        // each bound's enclosure mapped to raw units: the outer end outward, the written end inward
        let raw = |i: usize, (lo, hi): Enclosure| (affine_outward(t.mean[i], t.range[i], lo).0, affine_outward(t.mean[i], t.range[i], hi).1);
        for (lower, upper) in &mut boxes {
            for i in 0..dim {
                lower[i] = raw(i, lower[i]);
                upper[i] = raw(i, upper[i]);
            }
        }
    }
    let mut sets = Vec::with_capacity(boxes.len() + 1);
    for (lower, upper) in boxes {
        sets.push(InputSet::from_enclosed_box(&lower, &upper).map_err(|e| Error::new(e.kind, name(&e.context)))?);
    }
    if let Some((center, radius)) = ball {
        sets.push(InputSet::enclosed_ball(&center, radius, l2).map_err(|e| Error::new(e.kind, name(&e.context)))?);
    }
    if let Some(path) = &args.polytope {
        let rows = json::read_polytope(path, dim)?;
        for set in &mut sets {
            *set = set.clone().with_enclosed_polytope(rows.clone()).map_err(|e| e.within(path.display()))?;
        }
    }
    Ok(sets)
}

/// An enclosure `[lo, hi]` of the exact `mean + range * z`: the rounded value
/// when it is exact, else that value widened by a few ulps (bounding the two
/// rounding errors of the product and the sum, also below the normal range).
fn affine_outward(mean: f64, range: f64, z: f64) -> (f64, f64) {
    let p = range * z;
    let (s, e2) = two_sum(mean, p);
    if !s.is_finite() {
        return (s, s); // refused as a non-finite bound
    }
    let e1 = range.mul_add(z, -p); // exact when |p| >= 2^-960
    let product_exact = z == 0.0 || range == 0.0 || (e1 == 0.0 && p.abs() >= 2f64.powi(-960));
    if product_exact && e2 == 0.0 {
        return (s, s);
    }
    // mean + range z = s + e1 + e2 (+ under 2^-1074 when the product underflows)
    let t = e1 + e2;
    let u = s + t;
    let margin = (t.abs() + u.abs()) * f64::EPSILON + 4.0 * f64::from_bits(1);
    ((u - margin).next_down(), (u + margin).next_up())
}

/// `--input-space` applies to models with an input normalisation (.nnet) only.
pub fn check_input_space(args: &InputSetArgs, network: &Network) -> deltacert::Result<()> {
    if args.input_space.is_some() && network.input_transform.is_none() {
        return Err(invalid("--input-space applies to models with input normalisation (.nnet); this model has none"));
    }
    Ok(())
}

/// How the networks see the input, in raw units: `bounded` is what the
/// bounds cover (a step's upper enclosure), `written_steps` the step rounded
/// inward, which a witness pair keeps (0.1 has no double: the nearest one is
/// above it).
pub struct Coupling {
    pub bounded: InputCoupling,
    pub written_steps: Option<Vec<f64>>,
}

impl Coupling {
    /// The coupling with the steps as written (for a search whose pairs are reported as they are).
    pub fn written(&self) -> InputCoupling {
        self.bounded.as_written(self.written_steps.as_deref())
    }
}

/// The coupling of `--input-quant` / `--independent-inputs`.
pub fn coupling(args: &CouplingArgs, dim: usize) -> deltacert::Result<Coupling> {
    if let Some(text) = &args.input_quant {
        let bad = || invalid(format!("--input-quant {text}: the step must be a finite number >= 0"));
        let (low, high) = decimal_enclosure(text.trim()).ok_or_else(bad)?;
        // a negative decimal (but "-0") is refused; a tiny positive one (1e-400) has a low end below 0
        let negative = text.trim().starts_with('-') && high > 0.0;
        if negative || !(high >= 0.0) || !high.is_finite() {
            return Err(bad());
        }
        return Ok(Coupling { bounded: InputCoupling::Quantised(vec![high; dim]), written_steps: Some(vec![low.max(0.0); dim]) });
    }
    let bounded = if args.independent_inputs { InputCoupling::Independent } else { InputCoupling::Same };
    Ok(Coupling { bounded, written_steps: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn args() -> InputSetArgs {
        InputSetArgs {
            box_range: None,
            box_file: None,
            vnnlib: None,
            center: None,
            radius: None,
            ball: None,
            polytope: None,
            input_space: None,
        }
    }

    fn scratch(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("deltacert-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A one-input `.nnet` network with input mean 0 and range 0.1.
    fn normalising_network() -> Network {
        deltacert::io::nnet::parse("1,1,1,1,\n1,1,\n0,\n-1000,\n1000,\n0,\n0.1,\n1,\n0,\n").unwrap()
    }

    #[test]
    fn linf_ball_corners_are_rounded_outward() {
        // 1 - 0.1 rounds up to 0.9 (above the exact 0.8999999999999999944...):
        // the lower corner must be the float below it; 1 + 0.1 rounds up already.
        let ball = InputSet::ball(vec![1.0], 0.1, false).unwrap();
        assert_eq!((ball.lower(), ball.upper()), (&[0.8999999999999999][..], &[1.1][..]));
        assert!(1.0 - 0.1 == 0.9 && 0.8999999999999999 < 0.9);
        // exact corners are kept
        let ball = InputSet::ball(vec![0.5, -2.0], 0.25, false).unwrap();
        assert_eq!((ball.lower(), ball.upper()), (&[0.25, -2.25][..], &[0.75, -1.75][..]));
        // through the command-line flags
        let mut a = args();
        a.center = Some(scratch("center.json", "[1.0]"));
        a.radius = Some("0.1".into());
        let set = input_set(&a, &normalising_network()).unwrap();
        assert_eq!((set.lower().to_vec(), set.upper().to_vec()), (vec![0.8999999999999999], vec![1.1]));
    }

    #[test]
    fn normalised_bounds_convert_to_raw_outward() {
        // raw = 0 + 0.1 * 3 rounds to 0.30000000000000004, above the exact
        // 0.3000000000000000166...: the lower bound must be below it.
        let mut a = args();
        a.box_range = Some("3,4".into());
        a.input_space = Some("normalized".into());
        let set = input_set(&a, &normalising_network()).unwrap();
        let lower = set.lower()[0];
        assert!(0.1f64.mul_add(3.0, -lower) >= 0.0, "{lower} is above the exact 0.1 * 3"); // fails for 0.1 * 3.0
        assert!(lower < 0.1 * 3.0 && lower > 0.3 - 1e-15, "{lower}");
        assert_eq!(set.upper()[0], 0.4); // 4 * 0.1 is exact
        assert_eq!(affine_outward(1.0, 2.0, 0.5), (2.0, 2.0));
        let (lo, hi) = affine_outward(0.1, 0.1, 3.0);
        assert!(lo < hi && lo < 0.1 + 0.1 * 3.0 && hi >= 0.1 + 0.1 * 3.0);
    }

    #[test]
    fn decimal_box_bounds_are_rounded_outward() {
        let mut a = args();
        // fl(0.3) lies below 3/10: the upper bound is the next double up
        a.box_range = Some("-0.5,0.3".into());
        let set = input_set(&a, &normalising_network()).unwrap();
        assert_eq!((set.lower()[0], set.upper()[0]), (-0.5, 0.3f64.next_up()));
        // fl(0.1) lies above 1/10: it is the upper bound itself
        a.box_range = Some("-0.5,0.1".into());
        let set = input_set(&a, &normalising_network()).unwrap();
        assert_eq!((set.lower()[0], set.upper()[0]), (-0.5, 0.1f64));
    }

    #[test]
    fn vnnlib_unions_give_every_box_and_single_set_callers_refuse_them() {
        let mut a = args();
        let path = scratch("union.vnnlib", "(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))\n");
        a.vnnlib = Some(path.clone());
        let net = normalising_network();
        let sets = input_sets(&a, &net).unwrap();
        let got: Vec<_> = sets.iter().map(|s| (s.lower()[0], s.upper()[0])).collect();
        assert_eq!(got, vec![(0.0, 1.0), (2.0, 3.0)]);
        let e = input_set(&a, &net).unwrap_err();
        assert_eq!(e.context, format!("--vnnlib {} is a union of 2 boxes; this command bounds one box at a time", path.display()));
        a.vnnlib = Some(scratch("bad.vnnlib", "(assert (<= X_0 1))\n"));
        let e = input_set(&a, &net).unwrap_err();
        assert!(e.context.ends_with("bad.vnnlib: input X_0 has no lower bound: every input needs a lower and an upper bound"), "{}", e.context);
    }

    #[test]
    fn bad_json_sets_are_named() {
        let net = normalising_network();
        let mut a = args();
        a.center = Some(scratch("nan.json", "[1e999]"));
        a.radius = Some("0.5".into());
        let e = input_set(&a, &net).unwrap_err();
        assert!(e.context.contains("nan.json: the centre: entry 0 (1e+999) is beyond the range of a 64-bit float"), "{}", e.context);
        a.center = Some(scratch("c.json", "[0]"));
        a.radius = Some("1e999".into());
        assert!(input_set(&a, &net).unwrap_err().context.ends_with("--radius 1e999: must be a finite number >= 0"));
        a.radius = Some("inf".into());
        assert_eq!(input_set(&a, &net).unwrap_err().context, "--radius inf: not a number");
        a.radius = Some("1.0".into());
        a.polytope = Some(scratch("p.json", r#"{"A": [[1], [2]], "b": [1]}"#));
        let e = input_set(&a, &net).unwrap_err();
        assert!(e.context.ends_with("p.json: \"A\" has 2 rows but \"b\" has 1 entries"), "{}", e.context);
        assert_eq!(e.kind, ErrorKind::ShapeMismatch);
    }
}
