//! `shopfloor model …` tools that need more than the engine: the Q&A
//! evaluation of variants, the any-plant evaluation against the naive peer,
//! the engine-knob tuning, and LoRA training of the nano model.

pub mod any_plant;
pub mod evaluate;
pub mod profile_edit;
pub mod train;
pub mod tune;
