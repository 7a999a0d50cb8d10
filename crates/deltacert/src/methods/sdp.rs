//! `sdp`: the S-procedure semidefinite program of docs/method.md §2–5 on the
//! whole set ([`crate::sdp`]), its certificate re-checked with outward
//! rounding; the result is capped by the context's propagation bound.

use super::{per_output, tighten, BoundMethod, MethodContext, MethodOption, MethodOutcome};
use crate::error::Result;
use crate::problem::Norm;
use crate::report::MethodEvidence;
use crate::sdp::SdpResult;
use std::sync::Arc;

/// The S-procedure semidefinite program.
pub struct Sdp;

impl BoundMethod for Sdp {
    fn name(&self) -> &'static str {
        "sdp"
    }
    fn summary(&self) -> &'static str {
        "The S-procedure semidefinite program of Li, Drummond and Duncan."
    }
    fn description(&self) -> &'static str {
        "the SDP"
    }
    fn reads(&self, option: MethodOption) -> bool {
        matches!(option, MethodOption::SdpSettings | MethodOption::AttackSamples)
    }
    fn run(&self, context: &MethodContext) -> Result<MethodOutcome> {
        if let Some(eps) = context.request.eps {
            // decide mode: the search first (well under a second), and no
            // solve once it has found an error above eps, the answer then
            if context.attack().error > eps {
                return Ok(MethodOutcome::root_only(context, Some("the SDP was not run: the search had already found an error above eps".to_string())));
            }
            return Ok(certify(context));
        }
        let (outcome, _) = rayon::join(|| certify(context), || context.attack());
        Ok(outcome)
    }
}

/// Runs the SDP on the whole set and keeps, per output, the smaller of its
/// bound and the context's root bound (both are certified).
pub(crate) fn certify(context: &MethodContext) -> MethodOutcome {
    certify_within(context, context.budget)
}

/// [`certify`] within `budget` (a share of the context's).
pub(crate) fn certify_within(context: &MethodContext, budget: &crate::limits::Budget) -> MethodOutcome {
    certify_with(context, budget, context.request.sdp.solver)
}

/// [`certify_within`] with `solver` in place of the request's.
pub(crate) fn certify_with(context: &MethodContext, budget: &crate::limits::Budget, solver: crate::sdp::SdpSolver) -> MethodOutcome {
    let request = context.request;
    // decide mode: a solve stops once its output is proven at most eps
    let settings = crate::sdp::SdpSettings { decide_eps: request.eps, solver, ..request.sdp.clone() };
    let result = crate::sdp::certify_within(context.prepared, request.norm, &settings, budget);
    let mut root = context.root.clone();
    if request.norm == Norm::Linf {
        let sdp_per_output: Vec<f64> = result.per_output.iter().map(|b| b.unwrap_or(f64::INFINITY)).collect();
        tighten(&context.problem, &mut root, &sdp_per_output, &sdp_per_output);
    }
    if let Some(b) = result.bound {
        root.value = root.value.min(b);
    }
    let fallback = if root.value.is_finite() { "propagation's" } else { "propagation's, which is not finite either" };
    let note = missing_certificate_note(&result, fallback);
    MethodOutcome { certified: root.value, per_output: per_output(&root), solver_bound: None, found: None, uses_attack: true, note, evidence: vec![("sdp", Arc::new(result))] }
}

/// Why the SDP gave no bound, and which bound stands in its place
/// (`fallback`, e.g. "propagation's"); None when it gave one.
pub(crate) fn missing_certificate_note(result: &SdpResult, fallback: &str) -> Option<String> {
    if result.bound.is_some() {
        return None;
    }
    let certified_outputs = result.per_output.iter().filter(|b| b.is_some()).count();
    result.solves.iter().find_map(|s| s.refusal.clone()).map(|reason| match certified_outputs {
        0 => format!("the SDP gave no certificate ({reason}); the bound is {fallback}"),
        k => format!("the SDP certified {k} of {} outputs (the others: {reason}); each output's bound is the smaller of the SDP's and {fallback}", result.per_output.len()),
    })
}

impl MethodEvidence for SdpResult {
    fn summary(&self) -> String {
        if self.dim == 0 {
            return "not set up (the time limit was reached first)".into();
        }
        let seconds: f64 = self.solves.iter().map(|s| s.seconds).sum();
        format!("dimension {}, {} unstable + {} stable neurons, {} matched pairs, {} solves, {seconds:.2} s of solver time (solves run in parallel)", self.dim, self.variable_neurons, self.stable_neurons, self.matched_pairs, self.solves.len())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
