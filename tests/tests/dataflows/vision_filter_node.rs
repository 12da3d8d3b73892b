//! The `defect-filter` node binary in dora's testing mode (no daemon): it
//! learns rendered good parts, passes a flagged frame on, lets a good one
//! (sent as BGR) through, and refuses every kind of bad frame with its
//! reason while going on.

use std::sync::Arc;

use dora_node_api::arrow_v59::array::{ArrayRef, RecordBatch, UInt8Array};
use dora_node_api::arrow_v59::datatypes::{DataType, Field, Schema};
use dora_node_api::{MetadataParameters, Parameter};
use part_images::{render, DefectKind, PartSpec};
use shopfloor_core::schema::{FrameEncoding, FrameMeta};
use shopfloor_dataflow_tests::node::{output_rows, TestNode};
use shopfloor_dataflow_tests::vision::{defective, good_parts, HEIGHT, WIDTH};
use shopfloor_dataflow_tests::{scratch_dir, strip_ansi};

fn meta(frame_id: &str, width: u32, height: u32, encoding: FrameEncoding) -> MetadataParameters {
    FrameMeta {
        frame_id: frame_id.into(),
        ts_ms: 1_764_000_000_000,
        station: "station3".into(),
        line: "line1".into(),
        width,
        height,
        encoding,
    }
    .to_parameters()
}

fn rgb(spec: &PartSpec) -> anyhow::Result<Vec<u8>> {
    Ok(render(spec)?.image.into_raw())
}

/// Frame byte arrays, one per batch of an Arrow IPC file, each handed to
/// the node as the `frames` input with its metadata.
fn frame_events(
    dir: &std::path::Path,
    frames: Vec<(f64, Vec<u8>, MetadataParameters)>,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let path = dir.join("frames.arrow");
    let schema = Arc::new(Schema::new(vec![Field::new("frame", DataType::UInt8, false)]));
    let mut writer =
        dora_node_api::arrow_v59::ipc::writer::FileWriter::try_new(std::fs::File::create(&path)?, &schema)?;
    for (_, bytes, _) in &frames {
        let column: ArrayRef = Arc::new(UInt8Array::from(bytes.clone()));
        writer.write(&RecordBatch::try_new(schema.clone(), vec![column])?)?;
    }
    writer.finish()?;
    frames
        .into_iter()
        .enumerate()
        .map(|(index, (at, _, parameters))| {
            Ok(serde_json::json!({
                "time_offset_secs": at, "type": "Input", "id": "frames",
                "metadata": serde_json::to_value(parameters)?,
                "path": path, "batch_index": index, "column": "frame",
            }))
        })
        .collect()
}

#[test]
fn defect_filter_node_flags_defects_and_refuses_bad_frames_by_reason() -> anyhow::Result<()> {
    let dir = scratch_dir("vision-filter-node");
    let good = good_parts(&dir.join("good"), 16, 300)?;
    let mut bgr = rgb(&PartSpec::good(400, WIDTH, HEIGHT))?;
    for pixel in bgr.chunks_exact_mut(3) {
        pixel.swap(0, 2);
    }
    let mut png = Vec::new();
    render(&PartSpec::good(401, WIDTH, HEIGHT))?
        .image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    png.truncate(png.len() / 2);
    let mut no_width = meta("f-no-width", WIDTH, HEIGHT, FrameEncoding::Rgb8);
    no_width.remove("width");
    let mut yuv = meta("f-yuv", WIDTH, HEIGHT, FrameEncoding::Rgb8);
    yuv.insert("encoding".into(), Parameter::String("yuv420".into()));
    let small = rgb(&PartSpec::good(402, WIDTH / 2, HEIGHT / 2))?;
    let mut events = frame_events(
        &dir,
        vec![
            (0.5, rgb(&defective(403, DefectKind::Dent))?, meta("f-dent", WIDTH, HEIGHT, FrameEncoding::Rgb8)),
            (0.6, bgr, meta("f-good-bgr", WIDTH, HEIGHT, FrameEncoding::Bgr8)),
            (0.7, vec![1, 2, 3], yuv),
            (0.8, vec![0; 10], meta("f-short", WIDTH, HEIGHT, FrameEncoding::Rgb8)),
            (0.9, png, meta("f-corrupt", WIDTH, HEIGHT, FrameEncoding::Png)),
            (1.0, small, meta("f-small", WIDTH / 2, HEIGHT / 2, FrameEncoding::Rgb8)),
            (1.1, vec![0; 30], no_width),
        ],
    )?;
    // Not bytes at all.
    events.push(serde_json::json!({
        "time_offset_secs": 1.2, "type": "Input", "id": "frames",
        "metadata": serde_json::to_value(meta("f-text", WIDTH, HEIGHT, FrameEncoding::Rgb8))?,
        "data": "hello",
    }));
    events.push(serde_json::json!({"time_offset_secs": 1.3, "type": "Input", "id": "metrics_tick", "data": 0}));
    let envs = [("FILTER_GOOD_DIR", good.display().to_string())];
    let mut node = TestNode::start_with_events("defect-filter", &envs, events, 2.0, &dir)?;
    let outputs = node.outputs();
    let (log, clean) = node.wait()?;
    let log = strip_ansi(&log);
    assert!(clean, "defect-filter did not stop cleanly:\n{log}");

    let rows = output_rows(&outputs);
    let flagged: Vec<&str> =
        rows.iter().filter(|(id, _)| id == "inspections").filter_map(|(_, row)| row["frame_id"].as_str()).collect();
    assert_eq!(flagged, ["f-dent"], "only the dented part goes to stage 2:\n{log}");
    for reason in ["unsupported_encoding", "wrong_length", "corrupt_image", "wrong_size", "bad_metadata", "not_bytes"] {
        assert!(log.contains(&format!("reason=\"{reason}\"")), "no frame refused as {reason}:\n{log}");
    }
    assert!(log.contains("frames=2 flagged=1"), "two frames scored, one flagged:\n{log}");
    assert!(rows.iter().any(|(id, _)| id == "metrics"), "no metrics snapshot");
    Ok(())
}
