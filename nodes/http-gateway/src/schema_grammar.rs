//! JSON Schema → llama.cpp grammar, with llama.cpp's own converter (the one
//! the model node uses), so the gateway refuses exactly the schemas the
//! model node could not honour.

/// llama.cpp could not turn a schema into a grammar.
#[derive(Debug, thiserror::Error)]
#[error("llama.cpp cannot turn the JSON schema into a grammar")]
pub struct SchemaError(#[source] pub llama_cpp_2::LlamaCppError);

/// Whether `schema` compiles into a grammar.
pub fn compile(schema: &str) -> Result<(), SchemaError> {
    llama_cpp_2::json_schema_to_grammar(schema).map(|_| ()).map_err(SchemaError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usable_schema_compiles() {
        compile(r#"{"type":"object","properties":{"tag":{"type":"string"},"value":{"type":"number"}},"required":["tag","value"]}"#)
            .unwrap();
        compile(r#"{"type":"object"}"#).unwrap();
    }

    #[test]
    fn broken_schemas_are_refused_with_a_reason() {
        for schema in [
            r##"{"$ref":"#/definitions/missing"}"##,
            r#"{"type":"object","properties":{"a":{"type":"frobnicate"}}}"#,
            r#"{"type":"#,
        ] {
            let result = compile(schema);
            eprintln!("{schema}: {result:?}");
            assert!(result.is_err(), "{schema} compiled");
        }
    }
}
