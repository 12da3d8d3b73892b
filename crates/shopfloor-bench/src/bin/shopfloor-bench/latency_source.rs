//! Benchmark node (`shopfloor-bench latency-source`) of `dataflows/bench-distributed.yml`.
//!
//! 1. Warm-up: asks each echo node until it answers, so both daemons and the
//!    zenoh link between them carry messages before anything is measured.
//! 2. Streams: `BENCH_READING_BATCHES` batches of 20 readings at
//!    `BENCH_READINGS_HZ` on `readings`, and `BENCH_FRAMES` 640x480 rgb8
//!    frames at `BENCH_FRAMES_HZ` on `frames` (the camera source's message:
//!    a `UInt8` array with [`FrameMeta`] parameters), each frame half a
//!    reading period after a batch, and each message stamped with its send
//!    time just before it is sent.
//! 3. Round trips: `BENCH_PINGS` questions, one at a time, to the echo node on
//!    this daemon (`ask_in_daemon` → `answers_in_daemon`) and as many to the
//!    one on the other daemon (`ask_cross_daemon` → `answers_cross_daemon`),
//!    alternating, each timed from send to its answer's arrival.
//!
//! Writes what it sent and the round trips to `$BENCH_OUT_DIR/<node id>.json`,
//! then lingers a second (dora 1.1 may lose the last message of a node that
//! exits at once) and exits, which closes the probes' and echoes' inputs.

use std::time::{Duration, Instant};

use dora_node_api::arrow_v59::array::{Array, ArrayRef};
use dora_node_api::dora_core::config::DataId;
use dora_node_api::{DoraNode, Event, EventStream, MetadataParameters};
use shopfloor_core::schema::{
    frame_to_arrow, Answer, FrameEncoding, FrameMeta, Origin, Question, Reading, ReadingValue,
};
use shopfloor_node::clock::now_ms;

use shopfloor_bench::latency_common::{env_count, out_path, stamp, write_json, READINGS_PER_BATCH};

const READINGS_OUTPUT: &str = "readings";
const FRAMES_OUTPUT: &str = "frames";
const FRAME_WIDTH: u32 = 640;
const FRAME_HEIGHT: u32 = 480;
/// Longest wait for one answer before the question counts as lost.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the first answer of each echo node (the other daemon's
/// node may still be starting), asking again every [`WARM_UP_RETRY`].
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(30);
const WARM_UP_RETRY: Duration = Duration::from_secs(1);
/// Questions to each echo node after the first answer, not measured.
const WARM_UP_PINGS: u64 = 10;
/// Pause between two measured questions: escalations are occasional, not a
/// stream.
const PING_GAP: Duration = Duration::from_millis(10);
const LINGER: Duration = Duration::from_secs(1);

/// One way to an echo node and back.
struct Path {
    name: &'static str,
    ask: &'static str,
    answers: &'static str,
}

const PATHS: [Path; 2] = [
    Path { name: "in_daemon", ask: "ask_in_daemon", answers: "answers_in_daemon" },
    Path { name: "cross_daemon", ask: "ask_cross_daemon", answers: "answers_cross_daemon" },
];

/// One stream as sent.
#[derive(Default)]
struct Sent {
    /// Data bytes of one message.
    bytes: usize,
    /// How long each `send_output` call took (the sender's share).
    send_call_ns: Vec<u64>,
}

impl Sent {
    fn send(
        &mut self,
        node: &mut DoraNode,
        output: &DataId,
        mut parameters: MetadataParameters,
        data: ArrayRef,
    ) -> anyhow::Result<()> {
        self.bytes = data_bytes(data.as_ref());
        stamp(&mut parameters);
        let started = Instant::now();
        node.send_output(output.clone(), parameters, data)?;
        self.send_call_ns.push(started.elapsed().as_nanos() as u64);
        Ok(())
    }
}

/// Round trips of one path.
#[derive(Default)]
struct RoundTrips {
    rtt_ns: Vec<u64>,
    lost: u64,
    answer_bytes: usize,
}

pub fn run() -> anyhow::Result<()> {
    let batches = env_count("BENCH_READING_BATCHES")?;
    let readings_hz = env_count("BENCH_READINGS_HZ")?;
    let frames = env_count("BENCH_FRAMES")?;
    let frames_hz = env_count("BENCH_FRAMES_HZ")?;
    let pings = env_count("BENCH_PINGS")?;
    let (mut node, mut events) = DoraNode::init_from_env()?;
    let out = out_path(node.id().as_ref())?;

    let mut sequence = 0u64;
    for path in &PATHS {
        let given_up = Instant::now() + WARM_UP_TIMEOUT;
        while ping(&mut node, &mut events, path, &mut sequence, WARM_UP_RETRY)?.is_none() {
            anyhow::ensure!(Instant::now() < given_up, "no answer on {} within {WARM_UP_TIMEOUT:?}", path.answers);
        }
        for _ in 0..WARM_UP_PINGS {
            ping(&mut node, &mut events, path, &mut sequence, ANSWER_TIMEOUT)?;
        }
    }

    let (readings, frames_sent) = stream(&mut node, &mut events, batches, readings_hz, frames, frames_hz)?;

    let mut trips: Vec<RoundTrips> = PATHS.iter().map(|_| RoundTrips::default()).collect();
    for _ in 0..pings {
        for (path, trip) in PATHS.iter().zip(&mut trips) {
            std::thread::sleep(PING_GAP);
            match ping(&mut node, &mut events, path, &mut sequence, ANSWER_TIMEOUT)? {
                Some((rtt, bytes)) => {
                    trip.rtt_ns.push(rtt.as_nanos() as u64);
                    trip.answer_bytes = bytes;
                }
                None => trip.lost += 1,
            }
        }
    }

    let round_trips: serde_json::Map<String, serde_json::Value> = PATHS
        .iter()
        .zip(&trips)
        .map(|(path, trip)| {
            let value = serde_json::json!({
                "sent": pings, "lost": trip.lost, "rtt_ns": trip.rtt_ns, "answer_bytes": trip.answer_bytes,
            });
            (path.name.to_owned(), value)
        })
        .collect();
    let summary = serde_json::json!({
        "readings": {
            "sent": batches, "per_batch": READINGS_PER_BATCH, "hz": readings_hz, "bytes": readings.bytes,
            "send_call_ns": readings.send_call_ns,
        },
        "frames": {
            "sent": frames, "hz": frames_hz, "bytes": frames_sent.bytes, "width": FRAME_WIDTH, "height": FRAME_HEIGHT,
            "send_call_ns": frames_sent.send_call_ns,
        },
        "question_bytes": data_bytes(Question::to_arrow(&[question(0)]).as_ref()),
        "round_trips": round_trips,
    });
    write_json(&out, &summary)?;

    let linger_end = Instant::now() + LINGER;
    while let Some(remaining) = linger_end.checked_duration_since(Instant::now()) {
        if matches!(events.recv_timeout(remaining), None | Some(Event::Stop(_))) {
            break;
        }
    }
    Ok(())
}

/// Sends both streams on their schedules.
fn stream(
    node: &mut DoraNode,
    events: &mut EventStream,
    batches: u64,
    readings_hz: u64,
    frames: u64,
    frames_hz: u64,
) -> anyhow::Result<(Sent, Sent)> {
    let readings_output = DataId::from(READINGS_OUTPUT.to_owned());
    let frames_output = DataId::from(FRAMES_OUTPUT.to_owned());
    let reading_period = Duration::from_nanos(1_000_000_000 / readings_hz);
    let frame_period = Duration::from_nanos(1_000_000_000 / frames_hz);
    // Frames go out between two reading batches: a batch sent in the same
    // instant as a frame waits behind it, which would mix the two kinds'
    // figures.
    let frame_offset = reading_period / 2;
    let pixels = test_pattern();
    let (mut readings, mut frames_sent) = (Sent::default(), Sent::default());
    let (mut next_batch, mut next_frame) = (0u64, 0u64);
    let start = Instant::now();
    while next_batch < batches || next_frame < frames {
        let batch_due = (next_batch < batches).then(|| start + reading_period * next_batch as u32);
        let frame_due = (next_frame < frames).then(|| start + frame_offset + frame_period * next_frame as u32);
        let due = batch_due.into_iter().chain(frame_due).min().unwrap_or(start);
        // Wait for the message's time, answering dora meanwhile.
        while let Some(wait) = due.checked_duration_since(Instant::now()).filter(|w| !w.is_zero()) {
            match events.recv_timeout(wait) {
                None | Some(Event::Stop(_)) => anyhow::bail!("stopped while streaming"),
                Some(_) => {}
            }
        }
        if batch_due == Some(due) {
            let data = Reading::to_arrow(&reading_batch(next_batch));
            readings.send(node, &readings_output, MetadataParameters::default(), data)?;
            next_batch += 1;
        } else {
            let meta = FrameMeta {
                frame_id: format!("bench-{next_frame:06}"),
                ts_ms: now_ms(),
                station: "station1".into(),
                line: "line1".into(),
                width: FRAME_WIDTH,
                height: FRAME_HEIGHT,
                encoding: FrameEncoding::Rgb8,
            };
            // A fresh buffer per frame, as the camera reads each file anew.
            frames_sent.send(node, &frames_output, meta.to_parameters(), frame_to_arrow(pixels.clone()))?;
            next_frame += 1;
        }
    }
    Ok((readings, frames_sent))
}

/// Asks `path`'s echo node one question and waits for its answer: the round
/// trip and the answer's data bytes, or `None` after `timeout`.
fn ping(
    node: &mut DoraNode,
    events: &mut EventStream,
    path: &Path,
    sequence: &mut u64,
    timeout: Duration,
) -> anyhow::Result<Option<(Duration, usize)>> {
    *sequence += 1;
    let wanted = question(*sequence);
    let data = Question::to_arrow(std::slice::from_ref(&wanted));
    let started = Instant::now();
    node.send_output(DataId::from(path.ask.to_owned()), MetadataParameters::default(), data)?;
    let deadline = started + timeout;
    while let Some(remaining) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(remaining) {
            None | Some(Event::Stop(_)) => anyhow::bail!("stopped while waiting for {}", path.answers),
            Some(Event::Input { id, data, .. }) if id.as_str() == path.answers => {
                let elapsed = started.elapsed();
                let array = data.as_array();
                let answers = Answer::from_arrow(array.as_ref())?;
                // A late answer to an earlier question is skipped.
                if answers.iter().any(|a| a.id == wanted.id) {
                    return Ok(Some((elapsed, data_bytes(array.as_ref()))));
                }
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// A question as the router hands it to a tier: from MQTT, with a reply
/// topic and a deadline.
fn question(sequence: u64) -> Question {
    let now = now_ms();
    let mut question = Question::new(
        format!("bench-q-{sequence:06}"),
        "Why has the spindle temperature of press 3 risen over the last hour, and what should I check before the next shift?",
        "alice",
        Origin::Mqtt,
        now,
    );
    question.reply_to = Some("plant1/assembly/cell1/assistant/answer/alice".into());
    question.deadline_ms = Some(now + 20_000);
    question
}

/// One batch as the OPC UA source sends it: every tag with its limits,
/// range, types and timestamps.
fn reading_batch(batch: u64) -> Vec<Reading> {
    let now = now_ms();
    (0..READINGS_PER_BATCH)
        .map(|i| {
            let value = ReadingValue::Number(40.0 + i as f64 + (batch % 100) as f64 / 100.0);
            let mut reading = Reading::good(
                "opc.tcp://127.0.0.1:4840/",
                format!("press3_sensor_{i:02}"),
                value,
                Some("°C".into()),
                Some(now - 5),
                now,
            );
            reading.low_limit = Some(10.0);
            reading.high_limit = Some(90.0);
            reading.server_ts_ms = Some(now - 2);
            reading.value_type = Some("Double".into());
            reading.status_code = Some("Good".into());
            reading.eu_low = Some(0.0);
            reading.eu_high = Some(150.0);
            reading
        })
        .collect()
}

/// A 640x480 rgb8 gradient (its content does not matter to the transport).
fn test_pattern() -> Vec<u8> {
    let (w, h) = (FRAME_WIDTH as usize, FRAME_HEIGHT as usize);
    let mut pixels = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            pixels.extend_from_slice(&[(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8]);
        }
    }
    pixels
}

/// The bytes of an array's data (the used part of its buffers, as dora
/// copies it into a message).
fn data_bytes(array: &dyn Array) -> usize {
    array.to_data().get_slice_memory_size().unwrap_or(0)
}
