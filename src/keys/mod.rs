//! Key forensics: tokens decoded offline (`token`, `account`, `report`), the key inventory
//! rebuilt from events (`inventory`), investigations of a key or principal
//! (`investigate`) and remediation plans (`remediate`).

pub mod account;
pub mod inventory;
pub mod investigate;
pub mod remediate;
pub mod report;
pub mod token;
