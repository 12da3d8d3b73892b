//! Column access with errors that say which message and column were wrong.

use crate::arrow::array::AsArray;
use crate::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Int64Array, ListArray, StringArray,
    StructArray,
};
use crate::arrow::datatypes::{DataType, Float64Type, Int64Type};

/// Why an Arrow array could not be read as a message.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemaError {
    /// The array is not a struct array at all.
    #[error("{message}: expected a struct array, got {found}")]
    NotAStruct {
        /// Message kind being decoded.
        message: &'static str,
        /// The data type that arrived instead.
        found: String,
    },
    /// A required column is absent.
    #[error("{message}: missing column `{column}`")]
    MissingColumn {
        /// Message kind being decoded.
        message: &'static str,
        column: &'static str,
    },
    /// A column has another type than the schema says.
    #[error("{message}: column `{column}` has type {found}, expected {expected}")]
    WrongType {
        /// Message kind being decoded.
        message: &'static str,
        column: &'static str,
        expected: &'static str,
        found: String,
    },
    /// A non-nullable column holds a null.
    #[error("{message}: column `{column}` is null in row {row}")]
    UnexpectedNull {
        /// Message kind being decoded.
        message: &'static str,
        column: &'static str,
        row: usize,
    },
    /// A value is outside the values the schema allows.
    #[error("{message}: column `{column}` has invalid value {value:?} in row {row}")]
    InvalidValue {
        /// Message kind being decoded.
        message: &'static str,
        column: &'static str,
        row: usize,
        value: String,
    },
}

/// A decoded struct array, with typed column getters bound to one message kind.
pub(crate) struct Columns<'a> {
    message: &'static str,
    array: &'a StructArray,
}

impl<'a> Columns<'a> {
    pub(crate) fn new(message: &'static str, array: &'a dyn Array) -> Result<Self, SchemaError> {
        let array = array
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(|| SchemaError::NotAStruct { message, found: array.data_type().to_string() })?;
        Ok(Self { message, array })
    }

    pub(crate) fn len(&self) -> usize {
        self.array.len()
    }

    fn column(&self, column: &'static str) -> Result<&'a ArrayRef, SchemaError> {
        self.array.column_by_name(column).ok_or(SchemaError::MissingColumn { message: self.message, column })
    }

    fn typed<T: Array + 'static>(&self, column: &'static str, expected: &'static str) -> Result<&'a T, SchemaError> {
        let array = self.column(column)?;
        array.as_any().downcast_ref::<T>().ok_or_else(|| SchemaError::WrongType {
            message: self.message,
            column,
            expected,
            found: array.data_type().to_string(),
        })
    }

    pub(crate) fn utf8(&self, column: &'static str) -> Result<&'a StringArray, SchemaError> {
        self.typed(column, "Utf8")
    }

    /// A Utf8 column that older senders may leave out.
    pub(crate) fn optional_utf8(&self, column: &'static str) -> Result<Option<&'a StringArray>, SchemaError> {
        match self.array.column_by_name(column) {
            None => Ok(None),
            Some(_) => self.utf8(column).map(Some),
        }
    }

    /// A list column that older senders may leave out.
    pub(crate) fn optional_list(&self, column: &'static str) -> Result<Option<&'a ListArray>, SchemaError> {
        match self.array.column_by_name(column) {
            None => Ok(None),
            Some(_) => self.typed(column, "List").map(Some),
        }
    }

    /// A `List<Utf8>` column that older senders may leave out.
    pub(crate) fn optional_utf8_list(&self, column: &'static str) -> Result<Option<&'a ListArray>, SchemaError> {
        match self.array.column_by_name(column) {
            None => Ok(None),
            Some(_) => self.utf8_list(column).map(Some),
        }
    }

    /// A Boolean column that older senders may leave out.
    pub(crate) fn optional_boolean(&self, column: &'static str) -> Result<Option<&'a BooleanArray>, SchemaError> {
        match self.array.column_by_name(column) {
            None => Ok(None),
            Some(_) => self.boolean(column).map(Some),
        }
    }

    /// A Float32 column that older senders may leave out.
    pub(crate) fn optional_f32(&self, column: &'static str) -> Result<Option<&'a Float32Array>, SchemaError> {
        match self.array.column_by_name(column) {
            None => Ok(None),
            Some(_) => self.f32(column).map(Some),
        }
    }

    pub(crate) fn f64(&self, column: &'static str) -> Result<&'a Float64Array, SchemaError> {
        self.typed(column, "Float64")
    }

    pub(crate) fn f32(&self, column: &'static str) -> Result<&'a Float32Array, SchemaError> {
        self.typed(column, "Float32")
    }

    pub(crate) fn boolean(&self, column: &'static str) -> Result<&'a BooleanArray, SchemaError> {
        self.typed(column, "Boolean")
    }

    pub(crate) fn i64(&self, column: &'static str) -> Result<&'a Int64Array, SchemaError> {
        self.typed(column, "Int64")
    }

    pub(crate) fn binary(&self, column: &'static str) -> Result<&'a BinaryArray, SchemaError> {
        self.typed(column, "Binary")
    }

    pub(crate) fn utf8_list(&self, column: &'static str) -> Result<&'a ListArray, SchemaError> {
        self.list_of(column, DataType::Utf8, "List<Utf8>")
    }

    pub(crate) fn f64_list(&self, column: &'static str) -> Result<&'a ListArray, SchemaError> {
        self.list_of(column, DataType::Float64, "List<Float64>")
    }

    pub(crate) fn i64_list(&self, column: &'static str) -> Result<&'a ListArray, SchemaError> {
        self.list_of(column, DataType::Int64, "List<Int64>")
    }

    fn list_of(
        &self,
        column: &'static str,
        item: DataType,
        expected: &'static str,
    ) -> Result<&'a ListArray, SchemaError> {
        let list: &ListArray = self.typed(column, expected)?;
        if list.value_type() != item {
            return Err(SchemaError::WrongType {
                message: self.message,
                column,
                expected,
                found: list.data_type().to_string(),
            });
        }
        Ok(list)
    }

    /// A required string cell.
    pub(crate) fn required_str(
        &self,
        array: &'a StringArray,
        column: &'static str,
        row: usize,
    ) -> Result<String, SchemaError> {
        if array.is_null(row) {
            return Err(self.null(column, row));
        }
        Ok(array.value(row).to_owned())
    }

    pub(crate) fn null(&self, column: &'static str, row: usize) -> SchemaError {
        SchemaError::UnexpectedNull { message: self.message, column, row }
    }

    pub(crate) fn invalid(&self, column: &'static str, row: usize, value: String) -> SchemaError {
        SchemaError::InvalidValue { message: self.message, column, row, value }
    }
}

/// An optional string cell.
pub(crate) fn optional_str(array: &StringArray, row: usize) -> Option<String> {
    (!array.is_null(row)).then(|| array.value(row).to_owned())
}

/// An optional i64 cell.
pub(crate) fn optional_bytes(array: &BinaryArray, row: usize) -> Option<Vec<u8>> {
    (!array.is_null(row)).then(|| array.value(row).to_vec())
}

pub(crate) fn optional_i64(array: &Int64Array, row: usize) -> Option<i64> {
    (!array.is_null(row)).then(|| array.value(row))
}

/// The strings of one list cell; a null list reads as empty.
pub(crate) fn strings_in(lists: &ListArray, row: usize) -> Vec<String> {
    if lists.is_null(row) {
        return Vec::new();
    }
    lists.value(row).as_string::<i32>().iter().map(|item| item.unwrap_or_default().to_owned()).collect()
}

/// The numbers of one `List<Float64>` cell; a null list reads as empty, a null item as NaN.
pub(crate) fn f64s_in(lists: &ListArray, row: usize) -> Vec<f64> {
    if lists.is_null(row) {
        return Vec::new();
    }
    lists.value(row).as_primitive::<Float64Type>().iter().map(|item| item.unwrap_or(f64::NAN)).collect()
}

/// The numbers of one `List<Int64>` cell; a null list reads as empty, a null item as 0.
pub(crate) fn i64s_in(lists: &ListArray, row: usize) -> Vec<i64> {
    if lists.is_null(row) {
        return Vec::new();
    }
    lists.value(row).as_primitive::<Int64Type>().iter().map(|item| item.unwrap_or(0)).collect()
}

/// The items of each row of a list column, each decoded by `item` from its
/// index into the list's values; a null row reads as empty.
pub(crate) fn list_rows<T>(
    list: &ListArray,
    item: impl Fn(usize) -> Result<T, SchemaError>,
) -> Result<Vec<Vec<T>>, SchemaError> {
    let offsets = list.value_offsets();
    (0..list.len())
        .map(|row| {
            if list.is_null(row) {
                return Ok(Vec::new());
            }
            (offsets[row] as usize..offsets[row + 1] as usize).map(&item).collect()
        })
        .collect()
}

/// A list column whose rows have `lengths` items, taken in order from `values`.
pub(crate) fn list_column(lengths: Vec<usize>, values: ArrayRef) -> ArrayRef {
    use crate::arrow::buffer::OffsetBuffer;
    use crate::arrow::datatypes::Field;
    use std::sync::Arc;

    let field = Arc::new(Field::new("item", values.data_type().clone(), false));
    // Offsets come from the lengths of the rows `values` was built from.
    Arc::new(ListArray::new(field, OffsetBuffer::from_lengths(lengths), values, None))
}

/// Builds a struct array from `(name, column, nullable)` triples of equal length.
pub(crate) fn build_struct(columns: Vec<(&'static str, ArrayRef, bool)>) -> ArrayRef {
    use crate::arrow::datatypes::{Field, Fields};
    use std::sync::Arc;

    let fields: Fields =
        columns.iter().map(|(name, array, nullable)| Field::new(*name, array.data_type().clone(), *nullable)).collect();
    let arrays = columns.into_iter().map(|(_, array, _)| array).collect();
    // Columns are built by this module from one slice of messages, so lengths
    // and types always agree with the fields derived from them.
    Arc::new(StructArray::new(fields, arrays, None))
}
