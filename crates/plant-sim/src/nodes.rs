//! The address space layout: which OPC UA variables exist under `Cell1` (the
//! CNC cell) and `Line1` (the packaging line), their node ids, data types,
//! units and EU ranges, and how [`CellValues`] and [`LineValues`] map onto them.
//!
//! This is the contract other nodes rely on (`opcua-source` tag lists, the
//! end-to-end test), so it lives in one place and is unit-tested.

use opcua::types::{DataTypeId, NodeId, UAString, Variant};

use crate::cell::{CellValues, SPINDLE_TEMPERATURE_HIGH_LIMIT};
use crate::line::LineValues;

/// The simulator's own namespace.
pub const NAMESPACE_URI: &str = "urn:shopfloor-slm:plant-sim";

/// The index the server gives [`NAMESPACE_URI`]: 0 is OPC UA itself and 1 the
/// server's application URI, so the simulator's namespace is always 2.
pub const NAMESPACE_INDEX: u16 = 2;

/// String identifier (and browse name) of the folder under `Objects` that holds the cell.
pub const CELL_FOLDER: &str = "Cell1";

/// String identifier (and browse name) of the folder that holds the packaging line.
pub const LINE_FOLDER: &str = "Line1";

/// What the server needs to know to serve a variable, and clients to read it.
pub trait Point: Copy {
    /// The folder under `Objects`.
    fn folder(self) -> &'static str;
    /// The browse and display name, e.g. `SpindleTemperature`.
    fn browse_name(self) -> &'static str;
    /// The tag name suggested for readings, e.g. `spindle_temperature`.
    fn tag(self) -> &'static str;
    /// The engineering unit, if the value has one.
    fn unit(self) -> Option<&'static str>;
    /// The OPC UA data type of the value.
    fn data_type(self) -> DataTypeId;
    /// The `EURange` (low, high) of an analog value.
    fn eu_range(self) -> Option<(f64, f64)>;

    /// The string identifier of the node id, e.g. `Cell1.SpindleTemperature`.
    fn identifier(self) -> String {
        format!("{}.{}", self.folder(), self.browse_name())
    }

    /// The node id in text form, e.g. `ns=2;s=Cell1.SpindleTemperature`.
    fn node_id_text(self) -> String {
        format!("ns={NAMESPACE_INDEX};s={}", self.identifier())
    }

    /// The node id in namespace `namespace_index`.
    fn node_id(self, namespace_index: u16) -> NodeId {
        NodeId::new(namespace_index, self.identifier())
    }

    /// A line for `OPCUA_TAGS` (`<tag> <node-id> [unit]`) that reads this variable.
    fn tag_line(self) -> String {
        match self.unit() {
            Some(unit) => format!("{} {} {unit}", self.tag(), self.node_id_text()),
            None => format!("{} {}", self.tag(), self.node_id_text()),
        }
    }
}

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

impl Point for CellVariable {
    fn folder(self) -> &'static str {
        CELL_FOLDER
    }

    fn browse_name(self) -> &'static str {
        match self {
            CellVariable::SpindleTemperature => "SpindleTemperature",
            CellVariable::SpindleSpeed => "SpindleSpeed",
            CellVariable::Vibration => "Vibration",
            CellVariable::PartCount => "PartCount",
            CellVariable::MachineState => "MachineState",
            CellVariable::SpindleTemperatureHighLimit => "SpindleTemperatureHighLimit",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            CellVariable::SpindleTemperature => "spindle_temperature",
            CellVariable::SpindleSpeed => "spindle_speed",
            CellVariable::Vibration => "vibration",
            CellVariable::PartCount => "part_count",
            CellVariable::MachineState => "machine_state",
            CellVariable::SpindleTemperatureHighLimit => "spindle_temperature_limit",
        }
    }

    fn unit(self) -> Option<&'static str> {
        match self {
            CellVariable::SpindleTemperature | CellVariable::SpindleTemperatureHighLimit => Some("°C"),
            CellVariable::SpindleSpeed => Some("rpm"),
            CellVariable::Vibration => Some("mm/s"),
            CellVariable::PartCount | CellVariable::MachineState => None,
        }
    }

    fn data_type(self) -> DataTypeId {
        match self {
            CellVariable::PartCount => DataTypeId::UInt32,
            CellVariable::MachineState => DataTypeId::String,
            _ => DataTypeId::Double,
        }
    }

    fn eu_range(self) -> Option<(f64, f64)> {
        match self {
            CellVariable::SpindleTemperature => Some((0.0, 150.0)),
            CellVariable::SpindleSpeed => Some((0.0, 15_000.0)),
            CellVariable::Vibration => Some((0.0, 20.0)),
            _ => None,
        }
    }
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

/// One variable of the packaging line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineVariable {
    /// `Line1.ConveyorSpeed`, Double, m/min.
    ConveyorSpeed,
    /// `Line1.FillWeight`, Double, g.
    FillWeight,
    /// `Line1.PackageCount`, UInt32.
    PackageCount,
    /// `Line1.JamAlarm`, Boolean.
    JamAlarm,
    /// `Line1.LineState`, String (`RUNNING`, `JAMMED`).
    LineState,
}

impl LineVariable {
    /// Every variable, in the order they appear under the line folder.
    pub const ALL: [LineVariable; 5] = [
        LineVariable::ConveyorSpeed,
        LineVariable::FillWeight,
        LineVariable::PackageCount,
        LineVariable::JamAlarm,
        LineVariable::LineState,
    ];

    /// This variable's value in `values`.
    pub fn value_in(self, values: &LineValues) -> Variant {
        match self {
            LineVariable::ConveyorSpeed => Variant::Double(values.conveyor_speed),
            LineVariable::FillWeight => Variant::Double(values.fill_weight),
            LineVariable::PackageCount => Variant::UInt32(values.package_count),
            LineVariable::JamAlarm => Variant::Boolean(values.jam_alarm),
            LineVariable::LineState => Variant::String(UAString::from(values.state())),
        }
    }
}

impl Point for LineVariable {
    fn folder(self) -> &'static str {
        LINE_FOLDER
    }

    fn browse_name(self) -> &'static str {
        match self {
            LineVariable::ConveyorSpeed => "ConveyorSpeed",
            LineVariable::FillWeight => "FillWeight",
            LineVariable::PackageCount => "PackageCount",
            LineVariable::JamAlarm => "JamAlarm",
            LineVariable::LineState => "LineState",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            LineVariable::ConveyorSpeed => "conveyor_speed",
            LineVariable::FillWeight => "fill_weight",
            LineVariable::PackageCount => "package_count",
            LineVariable::JamAlarm => "jam_alarm",
            LineVariable::LineState => "line_state",
        }
    }

    fn unit(self) -> Option<&'static str> {
        match self {
            LineVariable::ConveyorSpeed => Some("m/min"),
            LineVariable::FillWeight => Some("g"),
            _ => None,
        }
    }

    fn data_type(self) -> DataTypeId {
        match self {
            LineVariable::PackageCount => DataTypeId::UInt32,
            LineVariable::JamAlarm => DataTypeId::Boolean,
            LineVariable::LineState => DataTypeId::String,
            _ => DataTypeId::Double,
        }
    }

    fn eu_range(self) -> Option<(f64, f64)> {
        match self {
            LineVariable::ConveyorSpeed => Some((0.0, 60.0)),
            LineVariable::FillWeight => Some((0.0, 1_000.0)),
            _ => None,
        }
    }
}

/// `OPCUA_TAGS` for `opcua-source`, one line per variable that changes with the
/// simulation (the five the cell publishes every tick).
pub fn simulated_tag_lines() -> String {
    CellVariable::ALL.iter().filter(|v| v.is_simulated()).map(|v| v.tag_line()).collect::<Vec<_>>().join("\n")
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
    fn line_values_have_their_declared_types_and_analog_ones_a_range() {
        let values = crate::line::running_line_at(7);
        for variable in LineVariable::ALL {
            let declared: NodeId = variable.data_type().into();
            assert_eq!(variable.value_in(&values).data_type().map(|t| t.node_id), Some(declared), "{variable:?}");
            assert_eq!(variable.eu_range().is_some(), variable.data_type() == DataTypeId::Double, "{variable:?}");
        }
        assert_eq!(LineVariable::JamAlarm.node_id_text(), "ns=2;s=Line1.JamAlarm");
    }

    #[test]
    fn the_limit_variable_publishes_the_limit_constant() {
        let limit = CellVariable::SpindleTemperatureHighLimit.value_in(&values_at(0));
        assert_eq!(limit, Variant::Double(80.0));
    }
}
