//! Transforms: raw CloudTrail JSON into normalized [`crate::event::Event`] rows, and the
//! Bedrock key classification applied to them.

pub mod classify;
pub mod normalize;
