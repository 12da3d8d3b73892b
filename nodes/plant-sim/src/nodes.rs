//! The cell's address space layout: which OPC UA variables exist, their node
//! ids, data types and units, and how a [`CellValues`] maps onto them.
//!
//! This is the contract other nodes rely on (`opcua-source` tag lists, the
//! end-to-end test), so it lives in one place and is unit-tested.

use opcua::types::{DataTypeId, NodeId, UAString, Variant};

use crate::cell::{CellValues, SPINDLE_TEMPERATURE_HIGH_LIMIT};

/// The simulator's own namespace.
pub const NAMESPACE_URI: &str = "urn:shopfloor-slm:plant-sim";

/// The index the server gives [`NAMESPACE_URI`]: 0 is OPC UA itself and 1 the
/// server's application URI, so the simulator's namespace is always 2.
pub const NAMESPACE_INDEX: u16 = 2;

/// String identifier (and browse name) of the folder under `Objects` that holds the cell.
pub const CELL_FOLDER: &str = "Cell1";

/// One variable the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellVariable {
    /// `Cell1.SpindleTemperature`, Double, °C.
    SpindleTemperature,
    /// `Cell1.SpindleSpeed`, Double, rpm.
    SpindleSpeed,
    /// `Cell1.Vibration`, Double, mm/s.
    Vibration,
    /// `Cell1.PartCount`, UInt32.
    PartCount,
    /// `Cell1.MachineState`, String (`RUNNING`, `TOOL_CHANGE`, `IDLE`).
    MachineState,
    /// `Cell1.SpindleTemperatureHighLimit`, Double, °C; constant.
    SpindleTemperatureHighLimit,
}

impl CellVariable {
    /// Every variable, in the order they appear under the cell folder.
    pub const ALL: [CellVariable; 6] = [
        CellVariable::SpindleTemperature,
        CellVariable::SpindleSpeed,
        CellVariable::Vibration,
        CellVariable::PartCount,
        CellVariable::MachineState,
        CellVariable::SpindleTemperatureHighLimit,
    ];

    /// The browse and display name, e.g. `SpindleTemperature`.
    pub fn browse_name(self) -> &'static str {
        match self {
            CellVariable::SpindleTemperature => "SpindleTemperature",
            CellVariable::SpindleSpeed => "SpindleSpeed",
            CellVariable::Vibration => "Vibration",
            CellVariable::PartCount => "PartCount",
            CellVariable::MachineState => "MachineState",
            CellVariable::SpindleTemperatureHighLimit => "SpindleTemperatureHighLimit",
        }
    }

    /// The string identifier of the node id, e.g. `Cell1.SpindleTemperature`.
    pub fn identifier(self) -> String {
        format!("{CELL_FOLDER}.{}", self.browse_name())
    }

    /// The node id in text form, e.g. `ns=2;s=Cell1.SpindleTemperature`.
    pub fn node_id_text(self) -> String {
        format!("ns={NAMESPACE_INDEX};s={}", self.identifier())
    }

    /// The node id in namespace `namespace_index`.
    pub fn node_id(self, namespace_index: u16) -> NodeId {
        NodeId::new(namespace_index, self.identifier())
    }

    /// The tag name suggested for readings of this variable, e.g. `spindle_temperature`.
    pub fn tag(self) -> &'static str {
        match self {
            CellVariable::SpindleTemperature => "spindle_temperature",
            CellVariable::SpindleSpeed => "spindle_speed",
            CellVariable::Vibration => "vibration",
            CellVariable::PartCount => "part_count",
            CellVariable::MachineState => "machine_state",
            CellVariable::SpindleTemperatureHighLimit => "spindle_temperature_limit",
        }
    }

    /// The engineering unit, if the value has one.
    pub fn unit(self) -> Option<&'static str> {
        match self {
            CellVariable::SpindleTemperature | CellVariable::SpindleTemperatureHighLimit => Some("°C"),
            CellVariable::SpindleSpeed => Some("rpm"),
            CellVariable::Vibration => Some("mm/s"),
            CellVariable::PartCount | CellVariable::MachineState => None,
        }
    }

    /// A line for `OPCUA_TAGS` (`<tag> <node-id> [unit]`) that reads this variable.
    pub fn tag_line(self) -> String {
        match self.unit() {
            Some(unit) => format!("{} {} {unit}", self.tag(), self.node_id_text()),
            None => format!("{} {}", self.tag(), self.node_id_text()),
        }
    }

    /// The OPC UA data type of the value.
    pub fn data_type(self) -> DataTypeId {
        match self {
            CellVariable::PartCount => DataTypeId::UInt32,
            CellVariable::MachineState => DataTypeId::String,
            _ => DataTypeId::Double,
        }
    }

    /// Whether the value changes with the simulation (the limit does not).
    pub fn is_simulated(self) -> bool {
        self != CellVariable::SpindleTemperatureHighLimit
    }

    /// This variable's value in `values`.
    pub fn value_in(self, values: &CellValues) -> Variant {
        match self {
            CellVariable::SpindleTemperature => Variant::Double(values.spindle_temperature),
            CellVariable::SpindleSpeed => Variant::Double(values.spindle_speed),
            CellVariable::Vibration => Variant::Double(values.vibration),
            CellVariable::PartCount => Variant::UInt32(values.part_count),
            CellVariable::MachineState => Variant::String(UAString::from(values.machine_state.as_str())),
            CellVariable::SpindleTemperatureHighLimit => Variant::Double(SPINDLE_TEMPERATURE_HIGH_LIMIT),
        }
    }
}

/// `OPCUA_TAGS` for `opcua-source`, one line per variable that changes with the
/// simulation (the five the cell publishes every tick).
pub fn simulated_tag_lines() -> String {
    CellVariable::ALL
        .iter()
        .filter(|v| v.is_simulated())
        .map(|v| v.tag_line())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::values_at;

    #[test]
    fn node_ids_are_string_ids_in_namespace_two_under_cell1() {
        assert_eq!(CellVariable::SpindleTemperature.node_id_text(), "ns=2;s=Cell1.SpindleTemperature");
        assert_eq!(
            CellVariable::SpindleTemperatureHighLimit.node_id_text(),
            "ns=2;s=Cell1.SpindleTemperatureHighLimit"
        );
        let parsed: NodeId = CellVariable::PartCount.node_id_text().parse().unwrap();
        assert_eq!(parsed, CellVariable::PartCount.node_id(NAMESPACE_INDEX));
    }

    #[test]
    fn every_value_has_the_variant_matching_its_declared_data_type() {
        let values = values_at(42);
        for variable in CellVariable::ALL {
            let variant = variable.value_in(&values);
            let declared: NodeId = variable.data_type().into();
            let actual = variant.data_type().map(|t| t.node_id);
            assert_eq!(actual, Some(declared), "{variable:?}");
        }
    }

    #[test]
    fn the_tag_lines_list_the_five_simulated_variables_with_units() {
        let lines = simulated_tag_lines();
        assert_eq!(lines.lines().count(), 5, "{lines}");
        assert!(lines.contains("spindle_temperature ns=2;s=Cell1.SpindleTemperature °C"), "{lines}");
        assert!(lines.lines().any(|line| line == "machine_state ns=2;s=Cell1.MachineState"), "{lines}");
        assert!(!lines.contains("HighLimit"), "{lines}");
    }

    #[test]
    fn the_limit_variable_publishes_the_limit_constant() {
        let limit = CellVariable::SpindleTemperatureHighLimit.value_in(&values_at(0));
        assert_eq!(limit, Variant::Double(80.0));
    }
}
