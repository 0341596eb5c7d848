//! `#[derive(ModelSchema)]`: a block's schema read from the model struct that also reads and
//! writes its values, so each attribute is declared once. The field's name is the attribute's
//! (after serde's `rename`), its doc comment the description, its Rust type the cty type;
//! `#[tf(...)]` on a field adds what a type cannot say:
//!
//! | option | meaning |
//! |---|---|
//! | `required`, `optional`, `computed` | who sets it; without them an `Option` (or a raw cty `Value`) is optional, anything else required, and `default` makes it optional+computed |
//! | `sensitive`, `write_only`, `requires_replace`, `stable` | the schema flags of the same names |
//! | `default = expr` | the value planned when the configuration leaves it null (a `bool`, a string, a number or a cty `Value`) |
//! | `validate = expr` | a validator (`Arc<dyn Validator>`); repeatable |
//! | `deprecated = "message"` | deprecated, with what to use instead |
//! | `description = expr` | a description computed at run time instead of the doc comment |
//! | `ty = expr` | the cty type, where the Rust type does not say it (a set) |
//! | `block` | a nested block: `Option<T>` single, `Vec<T>` list (`set` for a set), `T` a group (with `required`, a single block that must be there); `required` needs one |
//! | `schema = expr` | a nested block built by a function of its own (e.g. `timeouts::block(…)`) |
//!
//! A field renamed to start with `$` embeds another model: its attributes and blocks join this
//! block's. On the struct, `#[tf(description = expr)]` replaces the doc comment and
//! `#[tf(version = N)]` sets the schema version.
//!
//! This crate only writes code; what the code calls lives in `tfplugin_runtime::schema`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, Attribute, Data, DeriveInput, Expr, Fields, GenericArgument, Lit,
    PathArguments, Type,
};

/// Derives `tfplugin_runtime::schema::ModelSchema` for a model struct; see the crate docs.
#[proc_macro_derive(ModelSchema, attributes(tf))]
pub fn derive_model_schema(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(input.span(), "ModelSchema needs a struct"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(
            input.span(),
            "ModelSchema needs named fields",
        ));
    };
    let outer = StructOptions::parse(&input.attrs)?;
    let description = match outer.description {
        Some(expr) => quote!(&::std::string::ToString::to_string(&#expr)),
        None => {
            let doc = doc_comment(&input.attrs);
            quote!(#doc)
        }
    };
    let params: Vec<String> = input
        .generics
        .type_params()
        .map(|p| p.ident.to_string())
        .collect();
    let mut steps = Vec::new();
    for field in &fields.named {
        steps.push(field_step(field, &params)?);
    }
    let version = outer.version.unwrap_or(0);
    let name = &input.ident;
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::tfplugin_runtime::schema::ModelSchema for #name #type_generics #where_clause {
            const VERSION: i64 = #version;
            fn block() -> ::tfplugin_runtime::schema::Block {
                let block = ::tfplugin_runtime::schema::Block::new(#description);
                #(let block = #steps;)*
                block
            }
        }
    })
}

/// What `#[tf(...)]` says on the struct.
#[derive(Default)]
struct StructOptions {
    description: Option<Expr>,
    version: Option<i64>,
}

impl StructOptions {
    fn parse(attrs: &[Attribute]) -> syn::Result<StructOptions> {
        let mut options = StructOptions::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("tf")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("description") {
                    options.description = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("version") {
                    let lit: syn::LitInt = meta.value()?.parse()?;
                    options.version = Some(lit.base10_parse()?);
                } else {
                    return Err(meta.error("expected `description` or `version`"));
                }
                Ok(())
            })?;
        }
        Ok(options)
    }
}

/// What `#[tf(...)]` says on a field.
#[derive(Default)]
struct FieldOptions {
    required: bool,
    optional: bool,
    computed: bool,
    sensitive: bool,
    write_only: bool,
    requires_replace: bool,
    stable: bool,
    block: bool,
    set: bool,
    default: Option<Expr>,
    validators: Vec<Expr>,
    deprecated: Option<Expr>,
    description: Option<Expr>,
    ty: Option<Expr>,
    schema: Option<Expr>,
}

impl FieldOptions {
    /// Refuses, on a field that is a nested block or an embedded model, what only an attribute
    /// can say (instead of dropping it unseen).
    fn refuse_attribute_options(&self, field: &syn::Field) -> syn::Result<()> {
        let given = [
            ("optional", self.optional),
            ("computed", self.computed),
            ("sensitive", self.sensitive),
            ("write_only", self.write_only),
            ("stable", self.stable),
            ("default", self.default.is_some()),
            ("validate", !self.validators.is_empty()),
            ("deprecated", self.deprecated.is_some()),
            ("description", self.description.is_some()),
            ("ty", self.ty.is_some()),
        ];
        match given.iter().find(|(_, set)| *set) {
            Some((option, _)) => Err(syn::Error::new(
                field.span(),
                format!(
                    "`{option}` applies to attributes, not to nested blocks or embedded models"
                ),
            )),
            None => Ok(()),
        }
    }

    fn parse(attrs: &[Attribute]) -> syn::Result<FieldOptions> {
        let mut o = FieldOptions::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("tf")) {
            attr.parse_nested_meta(|meta| {
                let flag = |slot: &mut bool| {
                    *slot = true;
                    Ok(())
                };
                let path = &meta.path;
                let name = path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                match name.as_str() {
                    "required" => flag(&mut o.required),
                    "optional" => flag(&mut o.optional),
                    "computed" => flag(&mut o.computed),
                    "sensitive" => flag(&mut o.sensitive),
                    "write_only" => flag(&mut o.write_only),
                    "requires_replace" => flag(&mut o.requires_replace),
                    "stable" => flag(&mut o.stable),
                    "block" => flag(&mut o.block),
                    "set" => flag(&mut o.set),
                    "default" => {
                        o.default = Some(meta.value()?.parse()?);
                        Ok(())
                    }
                    "validate" => {
                        o.validators.push(meta.value()?.parse()?);
                        Ok(())
                    }
                    "deprecated" => {
                        o.deprecated = Some(meta.value()?.parse()?);
                        Ok(())
                    }
                    "description" => {
                        o.description = Some(meta.value()?.parse()?);
                        Ok(())
                    }
                    "ty" => {
                        o.ty = Some(meta.value()?.parse()?);
                        Ok(())
                    }
                    "schema" => {
                        o.schema = Some(meta.value()?.parse()?);
                        Ok(())
                    }
                    _ => {
                        Err(meta.error("unknown `tf` option (see tfplugin-runtime-derive's docs)"))
                    }
                }
            })?;
        }
        Ok(o)
    }
}

/// The expression that adds one field to `block`.
fn field_step(field: &syn::Field, params: &[String]) -> syn::Result<Tokens> {
    let ident = field.ident.as_ref().expect("named field");
    let name = serde_name(&field.attrs)?.unwrap_or_else(|| {
        let text = ident.to_string();
        text.strip_prefix("r#").unwrap_or(&text).to_owned()
    });
    let options = FieldOptions::parse(&field.attrs)?;
    if options.set && !options.block {
        return Err(syn::Error::new(
            field.span(),
            "`set` applies to `block` fields (a set attribute takes `ty = Type::set(…)`)",
        ));
    }
    if options.computed && options.default.is_some() {
        return Err(syn::Error::new(
            field.span(),
            "`default` makes an attribute optional+computed; drop `computed`",
        ));
    }
    let declared = strip_form(&field.ty, params);
    let description = match &options.description {
        Some(expr) => quote!(&::std::string::ToString::to_string(&#expr)),
        None => {
            let doc = doc_comment(&field.attrs);
            quote!(#doc)
        }
    };
    let nested = name.starts_with('$') || options.block || options.schema.is_some();
    if nested {
        options.refuse_attribute_options(field)?;
    }
    if name.starts_with('$') {
        return Ok(quote! {
            block.merge(<#declared as ::tfplugin_runtime::schema::ModelSchema>::block())
        });
    }
    if let Some(expr) = &options.schema {
        return Ok(quote! {
            block.block(::tfplugin_runtime::schema::NestedBlock::named(#expr, #name))
        });
    }
    if options.block {
        return nested_block(&name, declared, &options);
    }
    let ty = match &options.ty {
        Some(expr) => quote!(#expr),
        None => quote!(::tfplugin_runtime::schema::attribute_type::<#declared>()),
    };
    let mode = if options.computed && options.optional {
        quote!(OptionalComputed)
    } else if options.computed {
        quote!(Computed)
    } else if options.required {
        quote!(Required)
    } else if options.optional || options.default.is_some() || nullable(declared) {
        quote!(Optional)
    } else {
        quote!(Required)
    };
    let mut chain = quote! {
        ::tfplugin_runtime::schema::Attribute::declared(
            #name, #ty, ::tfplugin_runtime::schema::Mode::#mode,
        )
        .describe(#description)
    };
    for (set, method) in [
        (options.sensitive, quote!(sensitive)),
        (options.write_only, quote!(write_only)),
        (options.requires_replace, quote!(requires_replace)),
        (options.stable, quote!(stable)),
    ] {
        if set {
            chain = quote!(#chain.#method());
        }
    }
    if let Some(expr) = &options.default {
        chain =
            quote!(#chain.default(::tfplugin_runtime::schema::IntoDefault::into_default(#expr)));
    }
    for expr in &options.validators {
        chain = quote!(#chain.validate(#expr));
    }
    if let Some(expr) = &options.deprecated {
        chain = quote!(#chain.deprecated(&::std::string::ToString::to_string(&#expr)));
    }
    Ok(quote!(block.attribute(#chain)))
}

/// A nested block: its element type's own schema (whose doc comment describes it), repeated
/// as the field's type says.
fn nested_block(name: &str, declared: &Type, options: &FieldOptions) -> syn::Result<Tokens> {
    let (constructor, element) = if let Some(inner) = wrapper(declared, "Option") {
        (quote!(single), inner)
    } else if let Some(inner) = wrapper(declared, "Vec") {
        if options.set {
            (quote!(set), inner)
        } else {
            (quote!(list), inner)
        }
    } else if let Some(inner) = wrapper(declared, "BTreeSet") {
        (quote!(set), inner)
    } else if options.required {
        (quote!(single), declared)
    } else {
        (quote!(group), declared)
    };
    let mut chain = quote! {
        ::tfplugin_runtime::schema::NestedBlock::#constructor(
            #name,
            <#element as ::tfplugin_runtime::schema::ModelSchema>::block(),
        )
    };
    if options.required {
        chain = quote!(#chain.required());
    }
    if options.requires_replace {
        chain = quote!(#chain.requires_replace());
    }
    Ok(quote!(block.block(#chain)))
}

/// `T` of a field declared `F::Of<T>` (F one of the struct's type parameters); the type
/// itself otherwise.
fn strip_form<'a>(ty: &'a Type, params: &[String]) -> &'a Type {
    let Type::Path(path) = ty else { return ty };
    let segments: Vec<_> = path.path.segments.iter().collect();
    if path.qself.is_some() || segments.len() != 2 {
        return ty;
    }
    let is_param = params.iter().any(|p| segments[0].ident == p);
    if !is_param || segments[1].ident != "Of" {
        return ty;
    }
    match &segments[1].arguments {
        PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            GenericArgument::Type(inner) => inner,
            _ => ty,
        },
        _ => ty,
    }
}

/// Whether the type holds a null: an `Option`, or a raw cty `Value`.
fn nullable(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    wrapper(ty, "Option").is_some()
        || path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "Value" && last.arguments.is_empty())
}

/// The `T` of `Wrapper<T>` (by the last path segment's name).
fn wrapper<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    match &last.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::Type(inner) => Some(inner),
            _ => None,
        }),
        _ => None,
    }
}

/// `#[serde(rename = "...")]`, if the field has one.
fn serde_name(attrs: &[Attribute]) -> syn::Result<Option<String>> {
    let mut name = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let lit: syn::LitStr = meta.value()?.parse()?;
                name = Some(lit.value());
            } else if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _ = meta.input.parse::<proc_macro2::Group>()?;
            }
            Ok(())
        })?;
    }
    Ok(name)
}

/// The doc comment as Markdown: lines of a paragraph joined by spaces, paragraphs by a blank
/// line.
fn doc_comment(attrs: &[Attribute]) -> String {
    let mut paragraphs: Vec<String> = vec![String::new()];
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        let syn::Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        let Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) = &nv.value
        else {
            continue;
        };
        let value = s.value();
        let line = value.strip_prefix(' ').unwrap_or(&value).trim_end();
        let current = paragraphs.last_mut().expect("one paragraph");
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(String::new());
            }
        } else {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(line);
        }
    }
    paragraphs.retain(|p| !p.is_empty());
    paragraphs.join("\n\n")
}
