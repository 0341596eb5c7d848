//! The `timeouts` block Terraform users know from other providers: a deadline per operation.
//! Each default is declared once, in the schema ([`block`]); the block is a group, so the
//! defaults are in the plan and the state even when the configuration has no `timeouts` block,
//! and [`Timeouts`] always holds all three.
//!
//! ```
//! use tfplugin_runtime::timeouts::{self, Timeouts};
//! use tfplugin_runtime::{model, plan};
//!
//! let block = tfplugin_runtime::Block::new("disk").block(timeouts::block("20m", "20m", "5m"));
//! let config = tfplugin_runtime::cty::Value::object([("timeouts", block.blocks[0].block.unset_value())]);
//! let defaults = plan::with_defaults(&block, &config);
//! let timeouts: Timeouts = model::from_value(defaults.attr("timeouts").unwrap()).unwrap();
//! assert_eq!(timeouts.delete.get(), std::time::Duration::from_secs(300));
//! ```

use crate::cty::{Type, Value};
use crate::model::Duration;
use crate::schema::{validator, Attribute, Block, NestedBlock};
use serde::{Deserialize, Serialize};

/// The deadlines, as the `timeouts` block sets them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeouts {
    /// Deadline for create.
    pub create: Duration,
    /// Deadline for update.
    pub update: Duration,
    /// Deadline for delete.
    pub delete: Duration,
}

/// The `timeouts` block, with these defaults (durations such as `15m`).
pub fn block(create: &str, update: &str, delete: &str) -> NestedBlock {
    let deadline = |name: &str, default: &str| {
        Attribute::optional(name, Type::String)
            .default(Value::string(default))
            .validate(validator(
                "a duration such as `30s`, `5m` or `1h30m`",
                |value| match value.as_str().map(str::parse::<Duration>) {
                    Some(Ok(_)) => Ok(()),
                    Some(Err(e)) => Err(e.to_string()),
                    None => Err("expected a string".into()),
                },
            ))
            .describe(&format!("Deadline for {name}."))
    };
    NestedBlock::group(
        "timeouts",
        Block::new("Deadlines for each operation.")
            .attribute(deadline("create", create))
            .attribute(deadline("update", update))
            .attribute(deadline("delete", delete)),
    )
}
