//! `propagate`: one pass of differential propagation (docs/method.md §6),
//! capped by the interval bound of the difference. The context's root piece
//! is exactly this bound, so the method only hands it on.

use super::{BoundMethod, MethodContext, MethodOption, MethodOutcome};
use crate::error::Result;

/// One pass of differential bound propagation.
pub struct Propagate;

impl BoundMethod for Propagate {
    fn name(&self) -> &'static str {
        "propagate"
    }
    fn summary(&self) -> &'static str {
        "One pass of differential bound propagation."
    }
    fn description(&self) -> &'static str {
        "differential propagation"
    }
    fn reads(&self, option: MethodOption) -> bool {
        matches!(option, MethodOption::AttackSamples | MethodOption::Slopes)
    }
    fn run(&self, context: &MethodContext) -> Result<MethodOutcome> {
        Ok(MethodOutcome::root_only(context, None))
    }
}
