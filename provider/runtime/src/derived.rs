//! Schemas derived from models: the [`ModelSchema`] trait that `#[derive(ModelSchema)]`
//! implements, and what the derived code calls — the cty type a Rust type is read from
//! ([`attribute_type`], traced from its `Deserialize` like [`crate::model::shape`]) and
//! defaults written as plain Rust values ([`IntoDefault`]).
//!
//! ```
//! use tfplugin_runtime::schema::{ModelSchema, Mode};
//! use tfplugin_runtime::cty::Type;
//! use tfplugin_runtime::{Form, Known};
//! use serde::{Deserialize, Serialize};
//!
//! /// A disk attached to the host.
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
//! #[serde(bound = "")]
//! struct Disk<F: Form = Known> {
//!     /// Size in GiB.
//!     #[tf(requires_replace)]
//!     size_gb: F::Of<u32>,
//!     /// A label for the filesystem.
//!     #[tf(default = "data")]
//!     label: F::Of<String>,
//!     /// Where the host mounted it.
//!     #[tf(computed)]
//!     mount_point: F::Of<Option<String>>,
//! }
//!
//! let block = Disk::<Known>::block();
//! assert_eq!(block.description, "A disk attached to the host.");
//! let size = block.attribute_named("size_gb").unwrap();
//! assert_eq!((size.ty.clone(), size.mode, size.requires_replace), (Type::Number, Mode::Required, true));
//! assert_eq!(block.attribute_named("label").unwrap().mode, Mode::OptionalComputed);
//! assert_eq!(block.attribute_named("mount_point").unwrap().description, "Where the host mounted it.");
//! ```
//!
//! What this module does not know: how values are read into models ([`crate::model`]).

use crate::cty::{Type, Value};
use crate::model::shape::{shape, Kind, Shape};
use crate::schema::Block;
use serde::de::DeserializeOwned;

/// A model struct whose schema is its declaration (`#[derive(ModelSchema)]`).
pub trait ModelSchema {
    /// The schema version (bumped when stored state must be upgraded).
    const VERSION: i64 = 0;
    /// The block the struct's fields declare.
    fn block() -> Block;
}

/// The cty type values of `T` are read from: strings (also durations, enums of names,
/// secrets), numbers, bools, `dynamic` for a raw [`Value`], lists for sequences, maps for
/// string-keyed maps, objects for structs.
///
/// # Panics
/// When `T` cannot be traced (a provider bug the schema tests find at once).
pub fn attribute_type<T: DeserializeOwned>() -> Type {
    match shape::<T>() {
        Ok(shape) => type_of(&shape),
        Err(e) => panic!(
            "the type of {} cannot be read from its declaration: {e}",
            std::any::type_name::<T>()
        ),
    }
}

fn type_of(shape: &Shape) -> Type {
    match &shape.kind {
        Kind::Primitive(ty) => ty.clone(),
        Kind::List(element) => Type::list(type_of(element)),
        Kind::Map(value) => Type::map(type_of(value)),
        Kind::Object(fields) => Type::Object(
            fields
                .iter()
                .map(|(name, field)| (name.clone(), type_of(field)))
                .collect(),
        ),
    }
}

/// A default written as a Rust value: `#[tf(default = false)]`, `#[tf(default = "root")]`.
pub trait IntoDefault {
    /// The cty value.
    fn into_default(self) -> Value;
}

impl IntoDefault for Value {
    fn into_default(self) -> Value {
        self
    }
}

impl IntoDefault for bool {
    fn into_default(self) -> Value {
        Value::Bool(self)
    }
}

impl IntoDefault for &str {
    fn into_default(self) -> Value {
        Value::string(self)
    }
}

impl IntoDefault for String {
    fn into_default(self) -> Value {
        Value::string(self)
    }
}

impl IntoDefault for i64 {
    fn into_default(self) -> Value {
        Value::int(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Mode, ModelSchema, Nesting};
    use crate::{Form, Known, Planned};
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    /// A mount.
    ///
    /// Read back on every refresh.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
    struct Mount {
        /// Where.
        path: String,
        /// Mount options,
        /// comma-separated.
        options: Option<String>,
    }

    /// Shared by two models.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
    #[serde(bound = "")]
    struct Common<F: Form = Known> {
        /// The id.
        #[tf(computed, stable)]
        id: F::Of<Option<String>>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
    #[serde(bound = "")]
    #[tf(description = format!("A {}.", "machine"), version = 2)]
    struct Machine<F: Form = Known> {
        #[serde(rename = "$common")]
        common: Common<F>,
        /// Its type.
        #[tf(validate = crate::schema::one_of(&["a", "b"]))]
        #[serde(rename = "type")]
        kind: F::Of<String>,
        /// Labels.
        labels: F::Of<Option<BTreeMap<String, String>>>,
        /// A secret.
        #[tf(sensitive, requires_replace)]
        password: F::Of<Option<String>>,
        /// Settings.
        settings: F::Of<Value>,
        /// Ports, as a set.
        #[tf(ty = Type::set(Type::Number))]
        ports: F::Of<Option<Vec<u16>>>,
        /// Whether it runs.
        #[tf(optional, computed)]
        running: F::Of<Option<bool>>,
        /// Old name.
        #[tf(deprecated = "use `labels`")]
        tags: F::Of<Option<Vec<String>>>,
        #[tf(block, required)]
        root: F::Of<Mount>,
        #[tf(block)]
        mounts: F::Of<Vec<Mount>>,
        #[tf(block, set)]
        spares: F::Of<Vec<Mount>>,
        #[tf(schema = crate::timeouts::block("1m", "2m", "3m"))]
        timeouts: F::Of<crate::timeouts::Timeouts>,
    }

    #[test]
    fn descriptions_come_from_doc_comments_and_expressions() {
        let block = Machine::<Known>::block();
        assert_eq!(block.description, "A machine.");
        assert_eq!(Machine::<Planned>::VERSION, 2);
        let mount = Mount::block();
        assert_eq!(mount.description, "A mount.\n\nRead back on every refresh.");
        assert_eq!(
            mount.attribute_named("options").unwrap().description,
            "Mount options, comma-separated."
        );
    }

    #[test]
    fn types_and_modes_come_from_the_declaration() {
        let block = Machine::<Known>::block();
        let attr = |name: &str| block.attribute_named(name).unwrap().clone();
        assert_eq!(attr("id").mode, Mode::Computed);
        assert!(attr("id").stable);
        assert_eq!(
            (attr("type").ty, attr("type").mode),
            (Type::String, Mode::Required)
        );
        assert_eq!(attr("type").validators.len(), 1);
        assert_eq!(attr("labels").ty, Type::map(Type::String));
        assert_eq!(attr("labels").mode, Mode::Optional);
        assert!(attr("password").sensitive && attr("password").requires_replace);
        assert_eq!(attr("settings").ty, Type::Dynamic);
        assert_eq!(attr("ports").ty, Type::set(Type::Number));
        assert_eq!(attr("running").mode, Mode::OptionalComputed);
        assert_eq!(attr("tags").deprecated.as_deref(), Some("use `labels`"));
        let names: Vec<_> = block.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            ["id", "type", "labels", "password", "settings", "ports", "running", "tags"]
        );
    }

    #[test]
    fn nested_blocks_repeat_as_their_fields_say() {
        let block = Machine::<Known>::block();
        let nesting: Vec<_> = block
            .blocks
            .iter()
            .map(|b| (b.name.as_str(), b.nesting, b.min_items))
            .collect();
        assert_eq!(
            nesting,
            [
                ("root", Nesting::Single, 1),
                ("mounts", Nesting::List, 0),
                ("spares", Nesting::Set, 0),
                ("timeouts", Nesting::Group, 0),
            ]
        );
        assert_eq!(
            block.blocks[0].block.description,
            "A mount.\n\nRead back on every refresh."
        );
        let timeouts = &block.blocks[3].block;
        assert_eq!(
            timeouts.attribute_named("update").unwrap().default,
            Some(Value::string("2m"))
        );
    }

    #[test]
    fn a_derived_schema_agrees_with_its_model_and_passes_terraforms_rules() {
        let block = Machine::<Known>::block();
        let mut problems = block.check("machine.");
        problems.extend(crate::model::check::<Machine<Known>>(
            &block,
            crate::model::FormKind::Known,
        ));
        problems.extend(crate::model::check::<Machine<Planned>>(
            &block,
            crate::model::FormKind::Planned,
        ));
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn defaults_are_plain_values() {
        assert_eq!(false.into_default(), Value::Bool(false));
        assert_eq!("root".into_default(), Value::string("root"));
        assert_eq!(3i64.into_default(), Value::int(3));
    }
}
