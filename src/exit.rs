//! Exit codes a scheduler can act on, and the mapping from command outcomes and errors.

use crate::commands::Outcome;

/// Nothing at or above `--fail-on`, every input read.
pub const CLEAN: i32 = 0;
/// A finding at or above `--fail-on` exists (or `rules lint` found broken files).
pub const FINDINGS: i32 = 1;
/// Fatal error: bad arguments, unreadable paths, a rule that does not run.
pub const FATAL: i32 = 2;
/// Some input was skipped as bad; results are partial.
pub const PARTIAL: i32 = 3;
/// Both [`FINDINGS`] and [`PARTIAL`].
pub const FINDINGS_AND_PARTIAL: i32 = 4;
/// Some findings could not be delivered to a sink (they will be sent again next run).
pub const DELIVERY_FAILED: i32 = 5;

/// The exit code for a finished command.
pub fn code(o: Outcome) -> i32 {
    if o.delivery_failed {
        return DELIVERY_FAILED;
    }
    match (o.findings_hit, o.partial) {
        (false, false) => CLEAN,
        (true, false) => FINDINGS,
        (false, true) => PARTIAL,
        (true, true) => FINDINGS_AND_PARTIAL,
    }
}

/// True when the error chain holds a broken pipe (stdout closed early): not an error.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
