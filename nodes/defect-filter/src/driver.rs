//! The node on dora: the shared driver runs [`FilterNode`] until dora says
//! stop.

use std::collections::BTreeMap;

use dora_node_api::{DoraNode, EventStream};
use shopfloor_node::clock::now_ms;
use shopfloor_node::driver::SendError;
use shopfloor_node::Driver;

use crate::state::{ConfirmSettings, FilterNode, Wiring, VERDICTS_INPUT, VLM_ALIVE_INPUT};
use crate::GoodModel;

/// What the node did.
#[derive(Debug)]
pub struct Summary {
    pub frames: u64,
    pub flagged: u64,
    pub unconfirmed: u64,
    /// Inputs refused, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
}

/// Scores frames until dora stops the node. Where the dataflow wires
/// stage 2's verdicts back (input `verdicts`), a flagged frame without a
/// verdict in time gets the filter's own alert, marked unconfirmed.
pub fn run(
    model: GoodModel,
    confirm: ConfirmSettings,
    dataflow: &shopfloor_node::Wiring,
    node: DoraNode,
    mut events: EventStream,
) -> Result<Summary, SendError> {
    let wired = |name: &str| dataflow.inputs.keys().any(|input| input.as_str() == name);
    let wiring = Wiring { verdicts: wired(VERDICTS_INPUT), vlm_alive: wired(VLM_ALIVE_INPUT) };
    if wiring.verdicts {
        tracing::info!(
            timeout_ms = confirm.timeout.as_millis() as u64,
            "flagged frames without a verdict get the filter's own alert"
        );
    }
    let mut driver = Driver::new(node);
    let mut filter = FilterNode::new(model, driver.node_id(), confirm, wiring, now_ms());
    driver.run(&mut events, &mut filter)?;
    let counts = filter.counts();
    Ok(Summary {
        frames: counts.frames,
        flagged: counts.flagged,
        unconfirmed: counts.unconfirmed,
        rejected: driver.rejections().by_reason().clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use dora_node_api::arrow_v59::array::{ArrayRef, StringArray};
    use dora_node_api::{MetadataParameters, Parameter};
    use part_images::{render, sample_set, DefectKind, PartSpec};
    use shopfloor_core::schema::{frame_to_arrow, Alert, FrameEncoding, FrameMeta, Inspection, MetricSample};
    use shopfloor_node::testing::TestRun;

    use super::*;
    use crate::{FilterSettings, FrameView};

    const WIDTH: u32 = 640;
    const HEIGHT: u32 = 480;

    fn model() -> GoodModel {
        let images: Vec<Vec<u8>> =
            sample_set(300, 16, 0, WIDTH, HEIGHT).iter().map(|spec| render(spec).unwrap().image.into_raw()).collect();
        let frames: Vec<FrameView> = images.iter().map(|p| FrameView::rgb8(WIDTH, HEIGHT, p)).collect();
        GoodModel::learn(&frames, &FilterSettings::default()).unwrap()
    }

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

    fn rgb(spec: &PartSpec) -> Vec<u8> {
        render(spec).unwrap().image.into_raw()
    }

    fn confirm() -> ConfirmSettings {
        ConfirmSettings { timeout: Duration::from_secs(15), stale_after: Duration::from_secs(3) }
    }

    /// The end-to-end case of tests/tests/vision_filter_node.rs, under dora's
    /// testing mode: a dented part goes on to stage 2, a good part (sent as
    /// BGR) passes, and every kind of bad frame is refused with its reason
    /// while the node goes on; the metrics snapshot carries the rejections.
    #[test]
    fn defects_go_to_stage_two_and_bad_frames_are_refused_by_reason() {
        let mut bgr = rgb(&PartSpec::good(400, WIDTH, HEIGHT));
        for pixel in bgr.chunks_exact_mut(3) {
            pixel.swap(0, 2);
        }
        let mut png = Vec::new();
        render(&PartSpec::good(401, WIDTH, HEIGHT))
            .unwrap()
            .image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png.truncate(png.len() / 2);
        let mut no_width = meta("f-no-width", WIDTH, HEIGHT, FrameEncoding::Rgb8);
        no_width.remove("width");
        let mut yuv = meta("f-yuv", WIDTH, HEIGHT, FrameEncoding::Rgb8);
        yuv.insert("encoding".into(), Parameter::String("yuv420".into()));
        let small = rgb(&PartSpec::good(402, WIDTH / 2, HEIGHT / 2));
        let text: ArrayRef = Arc::new(StringArray::from(vec!["hello"]));
        let dent = rgb(&PartSpec::defective(403, WIDTH, HEIGHT, DefectKind::Dent));

        let (summary, outputs) = TestRun::new("defect-filter")
            .input_with_parameters(
                0.0,
                "frames",
                frame_to_arrow(dent),
                meta("f-dent", WIDTH, HEIGHT, FrameEncoding::Rgb8),
            )
            .input_with_parameters(
                0.01,
                "frames",
                frame_to_arrow(bgr),
                meta("f-good-bgr", WIDTH, HEIGHT, FrameEncoding::Bgr8),
            )
            .input_with_parameters(0.02, "frames", frame_to_arrow(vec![1, 2, 3]), yuv)
            .input_with_parameters(
                0.03,
                "frames",
                frame_to_arrow(vec![0; 10]),
                meta("f-short", WIDTH, HEIGHT, FrameEncoding::Rgb8),
            )
            .input_with_parameters(
                0.04,
                "frames",
                frame_to_arrow(png),
                meta("f-corrupt", WIDTH, HEIGHT, FrameEncoding::Png),
            )
            .input_with_parameters(
                0.05,
                "frames",
                frame_to_arrow(small),
                meta("f-small", WIDTH / 2, HEIGHT / 2, FrameEncoding::Rgb8),
            )
            .input_with_parameters(0.06, "frames", frame_to_arrow(vec![0; 30]), no_width)
            .input_with_parameters(0.07, "frames", text, meta("f-text", WIDTH, HEIGHT, FrameEncoding::Rgb8))
            .tick(0.08, "metrics_tick")
            .stop(0.1)
            .run_wired(|node, events, wiring| run(model(), confirm(), wiring, node, events))
            .unwrap();
        let summary = summary.unwrap();

        let flagged: Vec<String> = outputs
            .on("inspections")
            .flat_map(|sent| Inspection::from_arrow(sent.data.as_ref()).unwrap())
            .map(|inspection| inspection.frame_id)
            .collect();
        assert_eq!(flagged, ["f-dent"], "only the dented part goes to stage 2");
        for reason in
            ["unsupported_encoding", "wrong_length", "corrupt_image", "wrong_size", "bad_metadata", "not_bytes"]
        {
            assert_eq!(summary.rejected.get(reason), Some(&1), "{reason}: {:?}", summary.rejected);
        }
        assert_eq!((summary.frames, summary.flagged), (2, 1), "two frames scored, one flagged");
        assert_eq!(outputs.on("alerts").count(), 0, "no verdicts wired: stage 2 alerts");

        let snapshots: Vec<Vec<MetricSample>> =
            outputs.on("metrics").map(|sent| MetricSample::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(snapshots.len(), 2, "one on the tick, one at stop");
        let rejected: Vec<&str> = snapshots[0]
            .iter()
            .filter(|s| s.name == "shopfloor_rejected_inputs")
            .map(|s| s.labels[0].1.as_str())
            .collect();
        assert_eq!(rejected.len(), 6, "{rejected:?}");
        assert!(snapshots[0].iter().any(|s| s.name == "shopfloor_filter_flagged" && s.value == 1.0));
    }

    /// With `verdicts` wired and no verdict coming, the flagged frame is
    /// alerted by the filter itself when the timeout passes, with no other
    /// event to wake the node.
    #[test]
    fn a_flagged_frame_without_a_verdict_is_alerted_by_the_filter() {
        let dent = rgb(&PartSpec::defective(403, WIDTH, HEIGHT, DefectKind::Dent));
        let confirm = ConfirmSettings { timeout: Duration::from_millis(200), stale_after: Duration::from_secs(3) };
        // Learned before the run starts: the scripted times count from the
        // node's start, and learning would eat the 200 ms timeout's margin.
        let model = model();
        let (summary, outputs) = TestRun::new("defect-filter")
            .declare_input("verdicts")
            .input_with_parameters(
                0.0,
                "frames",
                frame_to_arrow(dent),
                meta("f-dent", WIDTH, HEIGHT, FrameEncoding::Rgb8),
            )
            .stop(0.8)
            .run_wired(|node, events, wiring| run(model, confirm, wiring, node, events))
            .unwrap();
        assert_eq!(summary.unwrap().unconfirmed, 1);
        assert_eq!(outputs.on("inspections").count(), 1);
        let alerts: Vec<Alert> =
            outputs.on("alerts").flat_map(|sent| Alert::from_arrow(sent.data.as_ref()).unwrap()).collect();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].frame_id.as_deref(), Some("f-dent"));
        let ids = outputs.ids();
        let alert_at = ids.iter().position(|id| *id == "alerts").unwrap();
        assert!(alert_at < ids.len() - 1, "the alert came before the stop's snapshot: {ids:?}");
    }
}
