//! Registry-style Markdown documentation rendered from schemas, so the docs a user reads are
//! always the schema the provider serves (a test keeps `docs/` in step).

use super::schema::{Attribute, Block, Mode, NestedBlock, Nesting, Schema};
use std::fmt::Write;

/// What is documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A managed resource.
    Resource,
    /// A data source.
    DataSource,
}

/// One page to render.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The provider's name (`example`), shown in the page title.
    pub provider: &'a str,
    /// The resource or data source type.
    pub type_name: &'a str,
    /// Which it is.
    pub kind: Kind,
    /// Its schema.
    pub schema: &'a Schema,
    /// An example configuration (HCL).
    pub example: Option<&'a str>,
    /// How to import it (a shell example).
    pub import: Option<&'a str>,
    /// The command that renders the pages again, named in a comment on each page.
    pub regenerate: &'a str,
}

/// Renders one page: front matter, description, an example (HCL), the schema, and how to
/// import (a shell example), when given.
pub fn render(page: &Page<'_>) -> String {
    let Page {
        provider,
        type_name,
        kind,
        schema,
        example,
        import,
        regenerate,
    } = *page;
    let mut out = String::new();
    let subcategory = match kind {
        Kind::Resource => "Resource",
        Kind::DataSource => "Data Source",
    };
    let first_line = schema.block.description.lines().next().unwrap_or("");
    let _ = writeln!(
        out,
        "---\npage_title: \"{type_name} {subcategory} - \
        {provider}\"\ndescription: |-\n  {first_line}\n---\n"
    );
    let _ = writeln!(
        out,
        "# {type_name} ({subcategory})\n\n{}\n",
        schema.block.description
    );
    if let Some(example) = example {
        let _ = writeln!(
            out,
            "## Example Usage\n\n```terraform\n{}\n```\n",
            example.trim_end()
        );
    }
    let _ = writeln!(
        out,
        "<!-- Generated from the provider's schema by `{regenerate}`. -->\n"
    );
    let _ = writeln!(out, "## Schema\n");
    render_block(&mut out, &schema.block, "");
    if let Some(import) = import {
        let _ = writeln!(out, "\n## Import\n\n```shell\n{}\n```", import.trim_end());
    }
    out
}

fn render_block(out: &mut String, block: &Block, anchor: &str) {
    let group = |mode: Mode| -> Vec<&Attribute> {
        let mut attrs: Vec<&Attribute> =
            block.attributes.iter().filter(|a| a.mode == mode).collect();
        attrs.sort_by(|a, b| a.name.cmp(&b.name));
        attrs
    };
    let required = group(Mode::Required);
    let mut optional = group(Mode::Optional);
    optional.extend(group(Mode::OptionalComputed));
    optional.sort_by(|a, b| a.name.cmp(&b.name));
    let computed = group(Mode::Computed);
    let (required_blocks, optional_blocks): (Vec<&NestedBlock>, Vec<&NestedBlock>) =
        block.blocks.iter().partition(|b| b.min_items > 0);
    if !required.is_empty() || !required_blocks.is_empty() {
        let _ = writeln!(out, "### Required\n");
        required.iter().for_each(|a| attribute_line(out, a));
        required_blocks
            .iter()
            .for_each(|b| block_line(out, b, anchor));
        out.push('\n');
    }
    if !optional.is_empty() || !optional_blocks.is_empty() {
        let _ = writeln!(out, "### Optional\n");
        optional.iter().for_each(|a| attribute_line(out, a));
        optional_blocks
            .iter()
            .for_each(|b| block_line(out, b, anchor));
        out.push('\n');
    }
    if !computed.is_empty() {
        let _ = writeln!(out, "### Read-Only\n");
        computed.iter().for_each(|a| attribute_line(out, a));
        out.push('\n');
    }
    for nested in &block.blocks {
        let id = format!("{anchor}{}", nested.name);
        let _ = writeln!(
            out,
            "<a id=\"nestedblock--{}\"></a>\n### Nested Schema for `{}`\n",
            id.replace('.', "--"),
            id
        );
        if !nested.block.description.is_empty() {
            let _ = writeln!(out, "{}\n", nested.block.description);
        }
        render_block(out, &nested.block, &format!("{id}."));
    }
}

fn attribute_line(out: &mut String, attribute: &Attribute) {
    let mut notes = vec![type_name(&attribute.ty)];
    if attribute.sensitive {
        notes.push("Sensitive".into());
    }
    if attribute.write_only {
        notes.push("Write-only".into());
    }
    if attribute.requires_replace {
        notes.push("Forces replacement".into());
    }
    if attribute.deprecated.is_some() {
        notes.push("Deprecated".into());
    }
    let mut text = attribute.description.clone();
    if let Some(default) = &attribute.default {
        let shown = default
            .as_str()
            .map(|s| format!("\"{s}\""))
            .or_else(|| default.as_bool().map(|b| b.to_string()))
            .or_else(|| default.as_number().map(|n| n.to_string()));
        if let Some(shown) = shown {
            let _ = write!(text, " Default: `{shown}`.");
        }
    }
    for v in &attribute.validators {
        let _ = write!(text, " Must be {}.", v.description());
    }
    let _ = writeln!(
        out,
        "- `{}` ({}) {}",
        attribute.name,
        notes.join(", "),
        text.trim()
    );
}

fn block_line(out: &mut String, nested: &NestedBlock, anchor: &str) {
    let kind = match nested.nesting {
        Nesting::Single | Nesting::Group => "Block",
        Nesting::List => "Block List",
        Nesting::Set => "Block Set",
        Nesting::Map => "Block Map",
    };
    let mut notes = vec![kind.to_string()];
    if nested.max_items > 0 && nested.nesting != Nesting::Single {
        notes.push(format!("Max: {}", nested.max_items));
    }
    if nested.requires_replace {
        notes.push("Forces replacement".into());
    }
    let id = format!("{anchor}{}", nested.name);
    let _ = writeln!(
        out,
        "- `{}` ({}) {} (see [below for nested schema](#nestedblock--{}))",
        nested.name,
        notes.join(", "),
        nested.block.description,
        id.replace('.', "--")
    );
}

fn type_name(ty: &super::cty::Type) -> String {
    use super::cty::Type;
    match ty {
        Type::String => "String".into(),
        Type::Number => "Number".into(),
        Type::Bool => "Boolean".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}
