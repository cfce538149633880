//! SQL documentation of the flow functions, as DataFusion shows it (e.g. the `description`,
//! `syntax_example` and parameters in `information_schema.routines` and `information_schema.parameters`).

use datafusion::logical_expr::{DocSection, Documentation};

/// The documentation section all flow functions are listed under.
const FLOW_SECTION: DocSection = DocSection {
    include: true,
    label: "Flow Functions",
    description: Some("Functions over flow addresses (stored as 16 bytes, IPv4 mapped) and protocol numbers."),
};

/// Documentation of one function: what it does, its call syntax, an example, and its arguments.
pub(crate) fn doc(description: &str, syntax: &str, example: &str, args: &[(&str, &str)]) -> Documentation {
    args.iter()
        .fold(
            Documentation::builder(FLOW_SECTION, description, syntax).with_sql_example(example),
            |builder, (name, text)| builder.with_argument(*name, *text),
        )
        .build()
}
