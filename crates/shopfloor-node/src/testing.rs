//! Driver tests in dora's testing mode: a node's real driver runs in the
//! test process against a scripted list of events, with no daemon, and
//! every output it sends is collected, decoded back into Arrow.
//!
//! ```ignore
//! let outputs = TestRun::new("limit-alarms")
//!     .input(0.0, "readings", Reading::to_arrow(&readings))
//!     .tick(0.1, "metrics_tick")
//!     .stop(0.2)
//!     .run(|node, events| limit_alarms::driver::run(&config, node, events))?;
//! let alerts = Alert::from_arrow(outputs.single("alerts")?.data.as_ref())?;
//! ```
//!
//! Inputs travel as Arrow IPC files (one per input, in a temporary folder),
//! so any array a node receives in a dataflow can be given exactly; outputs
//! come back through dora's JSON encoding and are decoded with the type dora
//! recorded beside them. Events are delivered at their time offsets from
//! the node's start; dora may reorder events of different inputs that are
//! due together (its fair scheduler), never those of one input.
//!
//! dora's testing daemon answers the node's requests one at a time, and a
//! request for the next event waits until that event is due: while it waits,
//! the node's sends (and, on a loaded machine, the end of its start) wait
//! too. A test whose node works with outside peers between scripted events
//! fills the gap with [`TestRun::ticks`], as a dataflow's timer would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dora_node_api::arrow_v59::array::{new_empty_array, ArrayRef};
use dora_node_api::arrow_v59::datatypes::{DataType, Field, Schema};
use dora_node_api::arrow_v59::ipc::writer::FileWriter;
use dora_node_api::arrow_v59::record_batch::RecordBatch;
use dora_node_api::integration_testing::integration_testing_format::{
    IncomingEvent, InputData, IntegrationTestInput, TimedIncomingEvent,
};
use dora_node_api::integration_testing::{drain_outputs, output_channel, TestingInput, TestingOptions, TestingOutput};
use dora_node_api::{DoraNode, EventStream, MetadataParameters};

/// Why a test run could not be set up or its outputs not read.
#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    #[error("cannot write the input file {path}")]
    InputFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode input `{input}` as Arrow IPC")]
    InputEncoding {
        input: String,
        #[source]
        source: dora_node_api::arrow_v59::error::ArrowError,
    },
    #[error("cannot describe the test node to dora: {0}")]
    Describe(#[from] serde_json::Error),
    #[error("dora refused to start the node in testing mode")]
    Init(#[source] dora_node_api::NodeError),
    #[error("output {index} is malformed: {reason}")]
    Output { index: usize, reason: String },
    #[error("expected one `{output}` output, found {found}")]
    Count { output: String, found: usize },
}

/// A scripted run of one node.
pub struct TestRun {
    node_id: String,
    inputs: BTreeMap<String, String>,
    outputs: Vec<String>,
    script: Vec<(f64, Scripted)>,
}

enum Scripted {
    Data { input: String, data: ArrayRef, parameters: Option<MetadataParameters> },
    Tick { input: String },
    Closed { input: String },
    Stop,
}

impl TestRun {
    pub fn new(node_id: &str) -> Self {
        Self { node_id: node_id.to_owned(), inputs: BTreeMap::new(), outputs: Vec::new(), script: Vec::new() }
    }

    /// Declares an input the node has in the dataflow (some nodes look at
    /// their declared inputs) without sending anything on it.
    pub fn declare_input(mut self, input: &str) -> Self {
        self.inputs.entry(input.to_owned()).or_insert_with(|| format!("upstream/{input}"));
        self
    }

    pub fn declare_output(mut self, output: &str) -> Self {
        self.outputs.push(output.to_owned());
        self
    }

    /// `data` on `input`, `at_secs` after the start.
    pub fn input(self, at_secs: f64, input: &str, data: ArrayRef) -> Self {
        self.declare_input(input).push(at_secs, Scripted::Data { input: input.to_owned(), data, parameters: None })
    }

    /// Like [`input`](Self::input), with dora metadata parameters (frames
    /// carry their size and encoding there).
    pub fn input_with_parameters(
        self,
        at_secs: f64,
        input: &str,
        data: ArrayRef,
        parameters: MetadataParameters,
    ) -> Self {
        let scripted = Scripted::Data { input: input.to_owned(), data, parameters: Some(parameters) };
        self.declare_input(input).push(at_secs, scripted)
    }

    /// An input with no data, as dora's timers send (`metrics_tick`).
    pub fn tick(self, at_secs: f64, input: &str) -> Self {
        self.declare_input(input).push(at_secs, Scripted::Tick { input: input.to_owned() })
    }

    /// A tick of `input` every `every_secs`, from `every_secs` up to
    /// `until_secs`: keeps the node's sends flowing through a long run (see
    /// the module's note on dora's testing daemon).
    pub fn ticks(self, every_secs: f64, until_secs: f64, input: &str) -> Self {
        let count = if every_secs > 0.0 { (until_secs / every_secs).floor() as u32 } else { 0 };
        (1..=count).fold(self, |run, n| run.tick(f64::from(n) * every_secs, input))
    }

    pub fn input_closed(self, at_secs: f64, input: &str) -> Self {
        self.declare_input(input).push(at_secs, Scripted::Closed { input: input.to_owned() })
    }

    /// dora's `Stop`; without it the event stream just ends after the last event.
    pub fn stop(self, at_secs: f64) -> Self {
        self.push(at_secs, Scripted::Stop)
    }

    fn push(mut self, at_secs: f64, event: Scripted) -> Self {
        self.script.push((at_secs, event));
        self
    }

    /// The inputs and outputs declared so far, as dora would describe them
    /// to the node (each input comes from `upstream/<input>` unless
    /// [`input_from`](Self::input_from) said otherwise).
    pub fn wiring(&self) -> Result<crate::Wiring, TestRunError> {
        Ok(serde_json::from_value(serde_json::json!({ "inputs": self.inputs, "outputs": self.outputs }))?)
    }

    /// Declares that `input` comes from `source` (`node/output`, or a dora
    /// timer such as `dora/timer/millis/100`).
    pub fn input_from(mut self, input: &str, source: &str) -> Self {
        self.inputs.insert(input.to_owned(), source.to_owned());
        self
    }

    /// Like [`run`](Self::run), for a driver that takes the node's
    /// [`Wiring`](crate::Wiring): it gets what this run declared.
    pub fn run_wired<R>(
        self,
        driver: impl FnOnce(DoraNode, EventStream, &crate::Wiring) -> R,
    ) -> Result<(R, Outputs), TestRunError> {
        let wiring = self.wiring()?;
        self.run(|node, events| driver(node, events, &wiring))
    }

    /// Runs `driver` (a node's real driver) on the scripted events; returns
    /// what it returned and everything it sent.
    pub fn run<R>(self, driver: impl FnOnce(DoraNode, EventStream) -> R) -> Result<(R, Outputs), TestRunError> {
        let folder =
            tempfile::tempdir().map_err(|source| TestRunError::InputFile { path: std::env::temp_dir(), source })?;
        let mut events = Vec::with_capacity(self.script.len());
        for (index, (at_secs, scripted)) in self.script.into_iter().enumerate() {
            let event = match scripted {
                Scripted::Data { input, data, parameters } => {
                    let path = folder.path().join(format!("input-{index}.arrow"));
                    write_ipc_file(&path, &input, data)?;
                    IncomingEvent::Input {
                        id: input.into(),
                        metadata: parameters,
                        data: Some(Box::new(InputData::ArrowFile {
                            path,
                            batch_index: 0,
                            column: Some(COLUMN.into()),
                        })),
                    }
                }
                Scripted::Tick { input } => IncomingEvent::Input { id: input.into(), metadata: None, data: None },
                Scripted::Closed { input } => IncomingEvent::InputClosed { id: input.into() },
                Scripted::Stop => IncomingEvent::Stop,
            };
            events.push(TimedIncomingEvent { time_offset_secs: at_secs, event });
        }
        let inputs: serde_json::Map<String, serde_json::Value> =
            self.inputs.iter().map(|(id, source)| (id.clone(), serde_json::Value::String(source.clone()))).collect();
        let description = serde_json::json!({
            "id": self.node_id,
            "env": null,
            "outputs": self.outputs,
            "inputs": inputs,
            "events": [],
        });
        let mut description: IntegrationTestInput = serde_json::from_value(description)?;
        description.events = events;
        let (sender, mut receiver) = output_channel();
        let (node, events) = DoraNode::init_testing(
            TestingInput::Input(description),
            TestingOutput::ToChannel(sender),
            TestingOptions { skip_output_time_offsets: false },
        )
        .map_err(TestRunError::Init)?;
        let result = driver(node, events);
        let sent = drain_outputs(&mut receiver)
            .into_iter()
            .enumerate()
            .map(|(index, json)| Sent::decode(index, json))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((result, Outputs(sent)))
    }
}

/// The column of each input file that holds the input's array.
const COLUMN: &str = "data";

fn write_ipc_file(path: &Path, input: &str, data: ArrayRef) -> Result<(), TestRunError> {
    let encode = |source| TestRunError::InputEncoding { input: input.to_owned(), source };
    let schema = Arc::new(Schema::new(vec![Field::new(COLUMN, data.data_type().clone(), true)]));
    let batch = RecordBatch::try_new(schema.clone(), vec![data]).map_err(encode)?;
    let file =
        std::fs::File::create(path).map_err(|source| TestRunError::InputFile { path: path.to_owned(), source })?;
    let mut writer = FileWriter::try_new(file, &schema).map_err(encode)?;
    writer.write(&batch).map_err(encode)?;
    writer.finish().map_err(encode)
}

/// One output the node sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub output: String,
    pub data: ArrayRef,
    /// When it was sent, in seconds after the run started: the clock of the
    /// inputs' `time_offset_secs`.
    pub at_secs: f64,
}

impl Sent {
    fn decode(index: usize, mut json: serde_json::Map<String, serde_json::Value>) -> Result<Self, TestRunError> {
        let malformed = |reason: String| TestRunError::Output { index, reason };
        let output =
            json.get("id").and_then(|id| id.as_str()).ok_or_else(|| malformed("no output id".into()))?.to_owned();
        let at_secs = json
            .get("time_offset_secs")
            .and_then(|offset| offset.as_f64())
            .ok_or_else(|| malformed("no time_offset_secs".into()))?;
        let data_type: DataType = match json.remove("data_type") {
            Some(value) => serde_json::from_value(value).map_err(|e| malformed(format!("data type: {e}")))?,
            None => DataType::Null,
        };
        let rows = match json.remove("data") {
            Some(serde_json::Value::Array(rows)) => rows,
            Some(serde_json::Value::Null) | None => Vec::new(),
            Some(other) => vec![other],
        };
        if rows.is_empty() {
            return Ok(Self { output, data: new_empty_array(&data_type), at_secs });
        }
        let schema = Arc::new(Schema::new(vec![Field::new("inner", data_type, true)]));
        let mut decoder = arrow_json::ReaderBuilder::new(schema)
            .with_batch_size(rows.len())
            .build_decoder()
            .map_err(|e| malformed(e.to_string()))?;
        let rows: Vec<serde_json::Value> = rows.into_iter().map(|row| serde_json::json!({ "inner": row })).collect();
        decoder.serialize(&rows).map_err(|e| malformed(e.to_string()))?;
        let batch =
            decoder.flush().map_err(|e| malformed(e.to_string()))?.ok_or_else(|| malformed("no rows".into()))?;
        Ok(Self { output, data: batch.column(0).clone(), at_secs })
    }
}

/// Everything a run sent, in order.
#[derive(Debug, Clone)]
pub struct Outputs(pub Vec<Sent>);

impl Outputs {
    /// The messages sent on `output`, in order.
    pub fn on<'a>(&'a self, output: &'a str) -> impl Iterator<Item = &'a Sent> + 'a {
        self.0.iter().filter(move |sent| sent.output == output)
    }

    /// The only message sent on `output`.
    pub fn single<'a>(&'a self, output: &'a str) -> Result<&'a Sent, TestRunError> {
        let mut found = self.on(output);
        match (found.next(), found.next()) {
            (Some(sent), None) => Ok(sent),
            _ => Err(TestRunError::Count { output: output.to_owned(), found: self.on(output).count() }),
        }
    }

    /// The output ids, in the order they were sent.
    pub fn ids(&self) -> Vec<&str> {
        self.0.iter().map(|sent| sent.output.as_str()).collect()
    }
}
