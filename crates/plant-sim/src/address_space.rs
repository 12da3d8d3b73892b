//! Builds the served address space: `Objects/Cell1` and `Objects/Line1`, one
//! variable per [`CellVariable`] and [`LineVariable`], each analog variable
//! with the `EngineeringUnits` and `EURange` properties real analog items
//! have (clients, `shopfloor opcua browse` and percent deadbands read them).

use opcua::server::address_space::{AddressSpace, VariableBuilder};
use opcua::types::{DataTypeId, EUInformation, ExtensionObject, NodeId, Range, VariableTypeId, Variant};

use crate::cell::CellValues;
use crate::line::LineValues;
use crate::nodes::{CellVariable, LineVariable, Point, CELL_FOLDER, LINE_FOLDER, NAMESPACE_INDEX};

/// The unit namespace OPC UA uses for `EUInformation` (UNECE codes; `unit_id`
/// -1 = no code given, the display name says it).
const UNECE_UNITS_URI: &str = "http://www.opcfoundation.org/UA/units/un/cefact";

/// Adds both folders and their variables, holding `cell` and `line`.
pub fn add_plant(address_space: &mut AddressSpace, cell: &CellValues, line: &LineValues) {
    let cell_folder = add_folder(address_space, CELL_FOLDER);
    for variable in CellVariable::ALL {
        add_variable(address_space, &cell_folder, variable, variable.value_in(cell));
    }
    let line_folder = add_folder(address_space, LINE_FOLDER);
    for variable in LineVariable::ALL {
        add_variable(address_space, &line_folder, variable, variable.value_in(line));
    }
}

fn add_folder(address_space: &mut AddressSpace, name: &str) -> NodeId {
    let folder = NodeId::new(NAMESPACE_INDEX, name);
    address_space.add_folder(&folder, name, name, &NodeId::objects_folder_id());
    folder
}

fn add_variable(address_space: &mut AddressSpace, folder: &NodeId, point: impl Point, value: Variant) {
    let node_id = point.node_id(NAMESPACE_INDEX);
    VariableBuilder::new(&node_id, point.browse_name(), point.browse_name())
        .data_type(point.data_type())
        .value(value)
        .has_type_definition(VariableTypeId::BaseDataVariableType)
        .organized_by(folder.clone())
        .insert(address_space);
    if let Some(unit) = point.unit() {
        let units = EUInformation {
            namespace_uri: UNECE_UNITS_URI.into(),
            unit_id: -1,
            display_name: unit.into(),
            description: unit.into(),
        };
        add_property(
            address_space,
            &node_id,
            "EngineeringUnits",
            DataTypeId::EUInformation,
            ExtensionObject::from_message(units),
        );
    }
    if let Some((low, high)) = point.eu_range() {
        add_property(
            address_space,
            &node_id,
            "EURange",
            DataTypeId::Range,
            ExtensionObject::from_message(Range { low, high }),
        );
    }
}

fn add_property(
    address_space: &mut AddressSpace,
    owner: &NodeId,
    name: &str,
    data_type: DataTypeId,
    value: ExtensionObject,
) {
    let property = NodeId::new(NAMESPACE_INDEX, format!("{}.{name}", owner.identifier));
    VariableBuilder::new(&property, name, name)
        .data_type(data_type)
        .value(Variant::ExtensionObject(value))
        .has_type_definition(VariableTypeId::PropertyType)
        .property_of(owner.clone())
        .insert(address_space);
}
