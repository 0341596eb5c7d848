//! Schemas: what a provider, resource or data source accepts and produces, declared once and
//! used for everything the protocol needs: the schema Terraform sees, the cty type values are
//! decoded with, validation of configuration, and the plan rules (computed, defaults,
//! requires-replace, write-only).

pub use crate::derived::{attribute_type, IntoDefault, ModelSchema};
pub use tfplugin_runtime_derive::ModelSchema;

use super::cty::{AttributePath, Type, Value};
use super::diagnostics::Diagnostics;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Who sets an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The configuration must set it.
    Required,
    /// The configuration may set it; null otherwise.
    Optional,
    /// Only the provider sets it.
    Computed,
    /// The configuration may set it; otherwise the provider does (or a default applies).
    OptionalComputed,
}

/// Checks a known, non-null configuration value; returns what is wrong with it.
pub trait Validator: Send + Sync {
    /// What the validator accepts, for documentation (e.g. "one of `a`, `b`").
    fn description(&self) -> String;
    /// `Err(message)` when the value is not acceptable.
    fn validate(&self, value: &Value) -> Result<(), String>;
}

/// A validator from a description and a function.
pub fn validator(
    description: impl Into<String>,
    check: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static,
) -> Arc<dyn Validator> {
    struct FnValidator<F> {
        description: String,
        check: F,
    }
    impl<F: Fn(&Value) -> Result<(), String> + Send + Sync> Validator for FnValidator<F> {
        fn description(&self) -> String {
            self.description.clone()
        }
        fn validate(&self, value: &Value) -> Result<(), String> {
            (self.check)(value)
        }
    }
    Arc::new(FnValidator {
        description: description.into(),
        check,
    })
}

/// Accepts one of a fixed set of strings.
pub fn one_of(allowed: &[&str]) -> Arc<dyn Validator> {
    let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
    let listed = allowed
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    validator(format!("one of {listed}"), move |value| {
        match value.as_str() {
            Some(s) if allowed.iter().any(|a| a == s) => Ok(()),
            Some(s) => Err(format!("{s:?} is not one of {}", allowed.join(", "))),
            None => Err("expected a string".into()),
        }
    })
}

/// Accepts a whole number within an inclusive range.
pub fn int_between(min: i64, max: i64) -> Arc<dyn Validator> {
    validator(
        format!("a whole number from {min} to {max}"),
        move |value| match value.as_number().and_then(|n| n.as_i64()) {
            Some(i) if (min..=max).contains(&i) => Ok(()),
            _ => Err(format!("must be a whole number from {min} to {max}")),
        },
    )
}

/// One attribute of a block.
#[derive(Clone)]
pub struct Attribute {
    /// Name, `[a-z0-9_]+`.
    pub name: String,
    /// cty type.
    pub ty: Type,
    /// Markdown description, shown in docs and by language servers.
    pub description: String,
    /// Who sets it.
    pub mode: Mode,
    /// Shown as `(sensitive value)` and redacted from plan output.
    pub sensitive: bool,
    /// Never stored in plan or state (Terraform 1.11+).
    pub write_only: bool,
    /// A change replaces the resource instead of updating it.
    pub requires_replace: bool,
    /// On update, a computed value that is null in configuration keeps its prior value
    /// instead of becoming unknown.
    pub stable: bool,
    /// The value planned when configuration leaves it null (makes the attribute optional+computed).
    pub default: Option<Value>,
    /// Deprecation message, when deprecated.
    pub deprecated: Option<String>,
    /// Checks on known configured values.
    pub validators: Vec<Arc<dyn Validator>>,
}

impl std::fmt::Debug for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attribute")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Attribute {
    fn new(name: &str, ty: Type, mode: Mode) -> Attribute {
        Attribute {
            name: name.to_owned(),
            ty,
            description: String::new(),
            mode,
            sensitive: false,
            write_only: false,
            requires_replace: false,
            stable: false,
            default: None,
            deprecated: None,
            validators: Vec::new(),
        }
    }
    /// An attribute set by `mode` (what `#[derive(ModelSchema)]` writes).
    pub fn declared(name: &str, ty: Type, mode: Mode) -> Attribute {
        Attribute::new(name, ty, mode)
    }
    /// An attribute the configuration must set.
    pub fn required(name: &str, ty: Type) -> Attribute {
        Attribute::new(name, ty, Mode::Required)
    }
    /// An attribute the configuration may set.
    pub fn optional(name: &str, ty: Type) -> Attribute {
        Attribute::new(name, ty, Mode::Optional)
    }
    /// An attribute only the provider sets.
    pub fn computed(name: &str, ty: Type) -> Attribute {
        Attribute::new(name, ty, Mode::Computed)
    }
    /// An attribute the configuration may set, or else the provider does.
    pub fn optional_computed(name: &str, ty: Type) -> Attribute {
        Attribute::new(name, ty, Mode::OptionalComputed)
    }
    /// Sets the description (Markdown).
    pub fn describe(mut self, description: &str) -> Attribute {
        self.description = description.to_owned();
        self
    }
    /// Marks it sensitive.
    pub fn sensitive(mut self) -> Attribute {
        self.sensitive = true;
        self
    }
    /// Marks it write-only: accepted in configuration, never stored.
    pub fn write_only(mut self) -> Attribute {
        self.write_only = true;
        self
    }
    /// A change replaces the resource.
    pub fn requires_replace(mut self) -> Attribute {
        self.requires_replace = true;
        self
    }
    /// Keeps the prior value on update instead of becoming unknown (for ids and the like).
    pub fn stable(mut self) -> Attribute {
        self.stable = true;
        self
    }
    /// The value used when configuration leaves it null; the attribute becomes optional+computed.
    pub fn default(mut self, value: Value) -> Attribute {
        self.default = Some(value);
        self.mode = Mode::OptionalComputed;
        self
    }
    /// Adds a validator.
    pub fn validate(mut self, validator: Arc<dyn Validator>) -> Attribute {
        self.validators.push(validator);
        self
    }
    /// Marks it deprecated with a message saying what to use instead.
    pub fn deprecated(mut self, message: &str) -> Attribute {
        self.deprecated = Some(message.to_owned());
        self
    }
    /// Does the provider (or a default) set it when configuration does not?
    pub fn is_computed(&self) -> bool {
        matches!(self.mode, Mode::Computed | Mode::OptionalComputed)
    }
}

/// How a nested block repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one; null when absent.
    Single,
    /// Exactly one, never null; absent means all attributes null.
    Group,
    /// An ordered list.
    List,
    /// An unordered set.
    Set,
    /// Labelled blocks, by label.
    Map,
}

/// A nested block type (`ssh { ... }`).
#[derive(Debug, Clone)]
pub struct NestedBlock {
    /// The block's type name.
    pub name: String,
    /// What it contains.
    pub block: Block,
    /// How it repeats.
    pub nesting: Nesting,
    /// Least number of blocks (0 = optional).
    pub min_items: u32,
    /// Most number of blocks (0 = unlimited).
    pub max_items: u32,
    /// A change inside replaces the resource.
    pub requires_replace: bool,
}

impl NestedBlock {
    /// A block that may appear at most once.
    pub fn single(name: &str, block: Block) -> NestedBlock {
        NestedBlock {
            name: name.to_owned(),
            block,
            nesting: Nesting::Single,
            min_items: 0,
            max_items: 0,
            requires_replace: false,
        }
    }
    /// A block that appears at most once and is never null: absent, its attributes are null
    /// (or their defaults).
    pub fn group(name: &str, block: Block) -> NestedBlock {
        NestedBlock {
            name: name.to_owned(),
            block,
            nesting: Nesting::Group,
            min_items: 0,
            max_items: 0,
            requires_replace: false,
        }
    }
    /// A block that may repeat, in order.
    pub fn list(name: &str, block: Block) -> NestedBlock {
        NestedBlock {
            name: name.to_owned(),
            block,
            nesting: Nesting::List,
            min_items: 0,
            max_items: 0,
            requires_replace: false,
        }
    }
    /// A block that may repeat, without order.
    pub fn set(name: &str, block: Block) -> NestedBlock {
        NestedBlock {
            name: name.to_owned(),
            block,
            nesting: Nesting::Set,
            min_items: 0,
            max_items: 0,
            requires_replace: false,
        }
    }
    /// The same block under another name (a shared block's schema used for a field).
    pub fn named(mut self, name: &str) -> NestedBlock {
        self.name = name.to_owned();
        self
    }
    /// Requires the block: at least one (exactly one for a single block).
    pub fn required(mut self) -> NestedBlock {
        self.min_items = 1;
        if self.nesting == Nesting::Single {
            self.max_items = 1;
        }
        self
    }
    /// A change inside replaces the resource.
    pub fn requires_replace(mut self) -> NestedBlock {
        self.requires_replace = true;
        self
    }
    /// The cty type of the block's value in its parent object.
    pub fn ty(&self) -> Type {
        let object = self.block.ty();
        match self.nesting {
            Nesting::Single | Nesting::Group => object,
            Nesting::List => Type::list(object),
            Nesting::Set => Type::set(object),
            Nesting::Map => Type::map(object),
        }
    }
}

/// A block: attributes and nested blocks.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// Attributes, in declaration order.
    pub attributes: Vec<Attribute>,
    /// Nested block types.
    pub blocks: Vec<NestedBlock>,
    /// Markdown description.
    pub description: String,
    /// Deprecation message, when deprecated.
    pub deprecated: Option<String>,
}

impl Block {
    /// An empty block with a description.
    pub fn new(description: &str) -> Block {
        Block {
            description: description.to_owned(),
            ..Block::default()
        }
    }
    /// Adds an attribute.
    pub fn attribute(mut self, attribute: Attribute) -> Block {
        self.attributes.push(attribute);
        self
    }
    /// Adds a nested block type.
    pub fn block(mut self, block: NestedBlock) -> Block {
        self.blocks.push(block);
        self
    }
    /// Adds another block's attributes and nested blocks (an embedded model's).
    pub fn merge(mut self, other: Block) -> Block {
        self.attributes.extend(other.attributes);
        self.blocks.extend(other.blocks);
        self
    }
    /// The object type of this block's values.
    pub fn ty(&self) -> Type {
        let mut attrs: BTreeMap<String, Type> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.ty.clone()))
            .collect();
        attrs.extend(self.blocks.iter().map(|b| (b.name.clone(), b.ty())));
        Type::Object(attrs)
    }
    /// A value of this block as configuration that sets nothing would produce: every
    /// attribute null or its default, no nested blocks. Imports start from it.
    pub fn unset_value(&self) -> Value {
        let mut values: BTreeMap<String, Value> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.default.clone().unwrap_or(Value::Null)))
            .collect();
        for nested in &self.blocks {
            let empty = match nested.nesting {
                Nesting::Single => Value::Null,
                Nesting::Group => nested.block.unset_value(),
                Nesting::List => Value::List(Vec::new()),
                Nesting::Set => Value::Set(Vec::new()),
                Nesting::Map => Value::Map(BTreeMap::new()),
            };
            values.insert(nested.name.clone(), empty);
        }
        Value::Object(values)
    }
    /// The attribute with this name.
    pub fn attribute_named(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Runs every attribute's validators over a configuration value (unknown and null values
    /// are skipped: they are checked once known), adding diagnostics at each attribute's path.
    pub fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        let Value::Object(attrs) = value else { return };
        for attribute in &self.attributes {
            let Some(v) = attrs.get(&attribute.name) else {
                continue;
            };
            if v.is_null() || !v.is_wholly_known() {
                continue;
            }
            let at = path.attr(&attribute.name);
            for validator in &attribute.validators {
                if let Err(message) = validator.validate(v) {
                    diags.error_at(
                        at.clone(),
                        format!("Invalid value for {}", attribute.name),
                        message,
                    );
                }
            }
            if let Some(message) = &attribute.deprecated {
                diags.warning_at(
                    at.clone(),
                    format!("Argument {} is deprecated", attribute.name),
                    message.clone(),
                );
            }
        }
        for nested in &self.blocks {
            let at = path.attr(&nested.name);
            match attrs.get(&nested.name) {
                Some(v @ Value::Object(_)) => nested.block.validate(v, &at, diags),
                Some(Value::List(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        nested.block.validate(item, &at.index(i as i64), diags);
                    }
                }
                Some(Value::Set(items)) => {
                    for item in items {
                        nested.block.validate(item, &at, diags);
                    }
                }
                Some(Value::Map(items)) => {
                    for (key, item) in items {
                        nested.block.validate(item, &at.key(key), diags);
                    }
                }
                _ => {}
            }
        }
    }
}

impl Block {
    /// The rules Terraform enforces when it loads a schema; a provider that breaks them fails
    /// every command, so they are checked in tests. Returns each problem with its path.
    pub fn check(&self, path: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        // Terraform keeps these names for its own meta-arguments and never passes them on.
        if path.matches('.').count() <= 1 {
            for reserved in [
                "connection",
                "provisioner",
                "lifecycle",
                "count",
                "for_each",
                "depends_on",
                "provider",
            ] {
                if self.attributes.iter().any(|a| a.name == reserved)
                    || self.blocks.iter().any(|b| b.name == reserved)
                {
                    problems.push(format!("{path}{reserved}: name reserved by Terraform"));
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for a in &self.attributes {
            let at = format!("{path}{}", a.name);
            if !valid_name(&a.name) {
                problems.push(format!("{at}: name must be [a-z0-9_]+"));
            }
            if !names.insert(a.name.as_str()) {
                problems.push(format!("{at}: declared twice"));
            }
            if a.write_only && a.is_computed() {
                problems.push(format!("{at}: write-only attributes cannot be computed"));
            }
            if a.default.is_some() && a.mode != Mode::OptionalComputed {
                problems.push(format!(
                    "{at}: a default needs an optional+computed attribute"
                ));
            }
            if a.stable && !a.is_computed() {
                problems.push(format!("{at}: only computed attributes can be stable"));
            }
        }
        for b in &self.blocks {
            let at = format!("{path}{}", b.name);
            if !valid_name(&b.name) || !names.insert(b.name.as_str()) {
                problems.push(format!("{at}: block name invalid or declared twice"));
            }
            match b.nesting {
                Nesting::Single if b.min_items != b.max_items || b.min_items > 1 => problems.push(
                    format!("{at}: a single block has min_items = max_items, each 0 or 1"),
                ),
                Nesting::Map if b.min_items != 0 || b.max_items != 0 => {
                    problems.push(format!("{at}: a map block has no item limits"))
                }
                Nesting::Set if b.block.ty().to_json().to_string().contains("\"dynamic\"") => {
                    problems.push(format!(
                        "{at}: a set block cannot contain dynamic attributes"
                    ))
                }
                _ => {}
            }
            problems.extend(b.block.check(&format!("{at}.")));
        }
        problems
    }
}

/// A versioned schema of a provider, resource or data source.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Bumped when stored state must be upgraded.
    pub version: i64,
    /// The top-level block.
    pub block: Block,
}

impl Schema {
    /// Version 0 of a block.
    pub fn new(block: Block) -> Schema {
        Schema { version: 0, block }
    }
    /// The schema model `M` declares.
    pub fn of<M: ModelSchema>() -> Schema {
        Schema {
            version: M::VERSION,
            block: M::block(),
        }
    }
    /// The cty type of values of this schema.
    pub fn ty(&self) -> Type {
        self.block.ty()
    }
}
