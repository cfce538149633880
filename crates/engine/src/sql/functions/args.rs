//! Shared argument handling for the flow functions: argument counts, the type coercion rules
//! (`coerce_types` of each function), reading scalar arguments, viewing array arguments, and
//! turning a result back into a scalar when every argument was one.

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeBinaryArray, LargeStringArray, StringArray, StringViewArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;

use crate::addr::ADDR_WIDTH;
use crate::schema::addr_type;

use super::bits::to_bits;

/// Checks a call has one argument per name in `params`.
pub(crate) fn check_arity<T>(func: &str, params: &[&str], args: &[T]) -> Result<()> {
    if args.len() != params.len() {
        return plan_err!(
            "{func}() takes {} argument(s) ({}), got {}",
            params.len(),
            params.join(", "),
            args.len()
        );
    }
    Ok(())
}

/// The arguments of a call as an array of exactly `N`.
pub(crate) fn take_args<const N: usize>(func: &str, args: Vec<ColumnarValue>) -> Result<[ColumnarValue; N]> {
    let count = args.len();
    match args.try_into() {
        Ok(args) => Ok(args),
        Err(_) => exec_err!("{func}() takes {N} argument(s), got {count}"),
    }
}

/// Coercion of an address argument: the stored form (or NULL, or dictionary-encoded addresses).
pub(crate) fn coerce_addr(func: &str, param: &str, arg: &DataType) -> Result<DataType> {
    match arg {
        DataType::FixedSizeBinary(ADDR_WIDTH) | DataType::Null => Ok(addr_type()),
        DataType::Dictionary(_, value) if **value == addr_type() => Ok(addr_type()),
        other => plan_err!(
            "{func}(): {param} must be an address (FixedSizeBinary(16), like src_addr or ip('10.0.0.1')), got {other}"
        ),
    }
}

/// Coercion of a text argument: any string type is kept as is (NULL becomes Utf8).
pub(crate) fn coerce_text(func: &str, param: &str, arg: &DataType) -> Result<DataType> {
    match arg {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Ok(arg.clone()),
        DataType::Null => Ok(DataType::Utf8),
        DataType::Dictionary(_, value)
            if matches!(**value, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) =>
        {
            Ok((**value).clone())
        }
        other => plan_err!("{func}(): {param} must be a string, got {other}"),
    }
}

/// Coercion of an integer argument: any integer type is kept as is (NULL becomes Int64).
pub(crate) fn coerce_int(func: &str, param: &str, arg: &DataType) -> Result<DataType> {
    match arg {
        DataType::Null => Ok(DataType::Int64),
        arg if arg.is_integer() => Ok(arg.clone()),
        other => plan_err!("{func}(): {param} must be an integer, got {other}"),
    }
}

/// `true` if no argument is an array: the result is then one scalar.
pub(crate) fn all_scalar(args: &[&ColumnarValue]) -> bool {
    args.iter().all(|arg| matches!(arg, ColumnarValue::Scalar(_)))
}

/// The result of a call: `array` itself, or its one value if every argument was a scalar.
pub(crate) fn finish(all_scalar: bool, array: ArrayRef) -> Result<ColumnarValue> {
    if all_scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?))
    } else {
        Ok(ColumnarValue::Array(array))
    }
}

/// A scalar text argument (`None` for NULL).
pub(crate) fn scalar_text<'a>(func: &str, value: &'a ScalarValue) -> Result<Option<&'a str>> {
    match value {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => Ok(s.as_deref()),
        ScalarValue::Null => Ok(None),
        other => exec_err!("{func}(): expected text, got {}", other.data_type()),
    }
}

/// A scalar integer argument widened to `i64` (`None` for NULL). `UInt64` values above
/// `i64::MAX` become `i64::MAX`: every caller treats both as out of range.
pub(crate) fn scalar_int(func: &str, value: &ScalarValue) -> Result<Option<i64>> {
    Ok(match value {
        ScalarValue::Int8(v) => v.map(i64::from),
        ScalarValue::Int16(v) => v.map(i64::from),
        ScalarValue::Int32(v) => v.map(i64::from),
        ScalarValue::Int64(v) => *v,
        ScalarValue::UInt8(v) => v.map(i64::from),
        ScalarValue::UInt16(v) => v.map(i64::from),
        ScalarValue::UInt32(v) => v.map(i64::from),
        ScalarValue::UInt64(v) => v.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
        ScalarValue::Null => None,
        other => return exec_err!("{func}(): expected an integer, got {}", other.data_type()),
    })
}

/// A scalar address argument as its bits (`None` for NULL).
pub(crate) fn scalar_addr(func: &str, value: &ScalarValue) -> Result<Option<u128>> {
    match value {
        ScalarValue::FixedSizeBinary(ADDR_WIDTH, bytes) => Ok(bytes.as_deref().map(to_bits)),
        ScalarValue::Null => Ok(None),
        other => exec_err!("{func}(): expected an address, got {}", other.data_type()),
    }
}

/// An address array argument.
pub(crate) fn addr_array<'a>(func: &str, array: &'a ArrayRef) -> Result<&'a FixedSizeBinaryArray> {
    match array.as_fixed_size_binary_opt() {
        Some(addrs) if addrs.value_length() == ADDR_WIDTH => Ok(addrs),
        _ => exec_err!("{func}(): expected an address column, got {}", array.data_type()),
    }
}

/// A text array argument, whichever string type it has.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TextArray<'a> {
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
}

impl<'a> TextArray<'a> {
    /// Views `array` as text.
    pub(crate) fn new(func: &str, array: &'a ArrayRef) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array.as_string()),
            DataType::LargeUtf8 => Self::LargeUtf8(array.as_string()),
            DataType::Utf8View => Self::Utf8View(array.as_string_view()),
            other => return exec_err!("{func}(): expected a text column, got {other}"),
        })
    }

    /// The array's nulls.
    pub(crate) fn nulls(self) -> Option<&'a NullBuffer> {
        match self {
            Self::Utf8(a) => a.nulls(),
            Self::LargeUtf8(a) => a.nulls(),
            Self::Utf8View(a) => a.nulls(),
        }
    }

    /// Row `i` (`None` for NULL).
    #[inline]
    pub(crate) fn get(self, i: usize) -> Option<&'a str> {
        match self {
            Self::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Self::LargeUtf8(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Utf8View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}
