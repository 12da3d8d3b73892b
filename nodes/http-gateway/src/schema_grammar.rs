//! JSON Schema → llama.cpp grammar, with llama.cpp's own converter (the one
//! the model node uses), so the gateway refuses exactly the schemas the
//! model node could not honour.

/// Whether `schema` compiles into a grammar; the error says why not.
pub fn compile(schema: &str) -> Result<(), String> {
    llama_cpp_2::json_schema_to_grammar(schema).map(|_| ()).map_err(|error| error.to_string())
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
