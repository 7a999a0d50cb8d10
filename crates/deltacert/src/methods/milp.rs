//! `milp`: the exact worst case of piecewise-linear networks (ReLU, leaky
//! ReLU, quantisers) by mixed-integer programming ([`crate::milp`], HiGHS).
//! HiGHS's dual bound is a *solver bound* (not re-checked); the certified
//! bound stays the context's propagation bound, and the incumbent is
//! re-evaluated by the orchestrator. Unless every solve ended optimal with
//! an incumbent, the attack runs too (after the solves, within the time
//! left), so a solve abandoned at the time limit still leaves a witness.

use super::{BoundMethod, MethodContext, MethodOption, MethodOutcome};
use crate::bound::BoundRequest;
use crate::error::Result;
use crate::network::Network;

/// The exact worst case by mixed-integer programming.
pub struct Milp;

impl BoundMethod for Milp {
    fn name(&self) -> &'static str {
        "milp"
    }
    fn summary(&self) -> &'static str {
        "The exact worst case of piecewise-linear (ReLU, leaky ReLU, quantised-activation) networks by mixed-integer programming (HiGHS; its upper bound is not re-checked)."
    }
    fn description(&self) -> &'static str {
        "the MILP"
    }
    fn reads(&self, option: MethodOption) -> bool {
        // the attack runs when a solve ends without its optimum
        option == MethodOption::AttackSamples
    }
    fn check(&self, reference: &Network, compressed: &Network, request: &BoundRequest) -> Result<()> {
        if request.norm != crate::problem::Norm::Linf {
            return Err(crate::error::invalid_option("--method milp bounds the linf norm (per output, both signs); use --norm linf"));
        }
        #[cfg(not(feature = "milp"))]
        {
            let _ = (reference, compressed);
            Err(crate::error::unsupported("--method milp needs deltacert built with its `milp` feature (HiGHS)"))
        }
        #[cfg(feature = "milp")]
        {
            crate::milp::check_piecewise_linear(reference, "the reference network")?;
            crate::milp::check_piecewise_linear(compressed, "the compressed network")?;
            if request.set.ball_constraint().is_some() {
                return Err(crate::error::unsupported("--method milp supports boxes and polytopes, not L2 balls"));
            }
            Ok(())
        }
    }
    #[cfg(not(feature = "milp"))]
    fn run(&self, _context: &MethodContext) -> Result<MethodOutcome> {
        Err(crate::error::unsupported("--method milp needs deltacert built with its `milp` feature (HiGHS)"))
    }
    #[cfg(feature = "milp")]
    fn run(&self, context: &MethodContext) -> Result<MethodOutcome> {
        use super::{FoundInput, SolverBound};
        use std::sync::Arc;
        let mut outcome = MethodOutcome::root_only(context, None);
        // the root propagation's facts over the whole set, as rows
        let facts = context.root.bounds.as_deref().and_then(|bounds| crate::milp::DifferentialFacts::new(&context.problem.pair, bounds));
        // three times the attack's floor is kept back from the solves (their
        // model building and an abandoned solve's thread take some of it):
        // when they are cut at the time limit, the attack after them ends
        // near it (MNIST at +-8/255, --timeout 1: 1.05-1.06 s, against
        // 1.08-1.10 s with one floor kept back)
        let solve_budget = match context.budget.remaining() {
            Some(left) => crate::limits::Budget::new(Some((left - 3.0 * context.attack_floor_seconds()).max(0.0)), context.budget.memory_bytes()),
            None => *context.budget,
        };
        let result = match crate::milp::solve(context.prepared, &solve_budget, facts) {
            Ok(result) => result,
            Err(refusal) => {
                outcome.note = Some(refusal.context);
                return Ok(outcome);
            }
        };
        // the attack adds nothing to solves that all reached their optimum
        outcome.uses_attack = !(result.found_incumbent && result.solves.iter().all(crate::milp::MilpSolve::optimal));
        outcome.solver_bound = result.upper.map(|bound| SolverBound { bound, per_output: result.per_output.iter().map(|p| p.1).collect() });
        let point = if result.found_incumbent { result.witness.clone() } else { Vec::new() };
        let compressed_point = if result.found_incumbent { result.witness_compressed.clone() } else { Vec::new() };
        outcome.found = Some(FoundInput { point, compressed_point, error: result.lower, per_output_lower: result.per_output.iter().map(|p| p.0).collect() });
        outcome.note = result.note.clone();
        outcome.evidence.push(("milp", Arc::new(result)));
        Ok(outcome)
    }
}

#[cfg(feature = "milp")]
impl crate::report::MethodEvidence for crate::milp::MilpResult {
    fn summary(&self) -> String {
        let statuses: Vec<&str> = self.solves.iter().map(|s| s.status.as_str()).collect();
        let levels = if self.integers > 0 { format!(" and {} quantiser levels", self.integers) } else { String::new() };
        let rows = if self.differential_rows { ", with the differential rows" } else { "" };
        format!("{} binaries{levels} per solve{rows}, statuses {}", self.binaries, statuses.join("/"))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
