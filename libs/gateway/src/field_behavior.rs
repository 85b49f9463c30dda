//! What the contracts say of a field with `google.api.field_behavior`.

use prost_reflect::FieldDescriptor;

/// `google.api.FieldBehavior` values the contracts use.
const REQUIRED: i32 = 2;
const OUTPUT_ONLY: i32 = 3;

fn has(field: &FieldDescriptor, behavior: i32) -> bool {
    let Some(extension) = field
        .parent_pool()
        .get_extension_by_name("google.api.field_behavior")
    else {
        return false;
    };
    let options = field.options();
    options.has_extension(&extension)
        && options
            .get_extension(&extension)
            .as_list()
            .is_some_and(|values| values.iter().any(|v| v.as_enum_number() == Some(behavior)))
}

/// A request leaves it unset only to be refused.
pub fn is_required(field: &FieldDescriptor) -> bool {
    has(field, REQUIRED)
}

/// The service sets it; a request's value is ignored.
pub fn is_output_only(field: &FieldDescriptor) -> bool {
    has(field, OUTPUT_ONLY)
}
