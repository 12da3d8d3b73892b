//! The second product's scene: a populated circuit board on an antistatic
//! mat. Sizes are at the 640x480 reference and scale with the image, like
//! the plate's. What varies from board to board (drawn from the details
//! stream): where each chip sits within the pick-and-place tolerance, the
//! pads' solder finish, and the mat's phase under the board.

use rand::RngCore;

use crate::canvas::{coverage, rounded_rect_distance, Canvas, PixelRect, Rgb, Turn};
use crate::layout::{Layout, BOARD_RING_RADIUS, CONNECTOR_AT};
use crate::random::{uniform, uniform_int};

const MAT: Rgb = [74.0, 82.0, 98.0];
const SOLDER_MASK: Rgb = [36.0, 104.0, 58.0];
const TRACE: Rgb = [54.0, 130.0, 74.0];
const PAD: Rgb = [196.0, 196.0, 190.0];
const CHIP_BODY: Rgb = [34.0, 34.0, 38.0];
const PIN_ONE: Rgb = [84.0, 84.0, 90.0];
const SILKSCREEN: Rgb = [226.0, 228.0, 222.0];
const RING: Rgb = [196.0, 164.0, 84.0];
const DRILL: Rgb = [22.0, 22.0, 24.0];
const CAPACITOR: Rgb = [176.0, 136.0, 76.0];
const CONNECTOR: Rgb = [212.0, 202.0, 172.0];
const PIN: Rgb = [60.0, 56.0, 50.0];

/// Chip bodies' half extents and where their pad rows sit, at the reference.
const CHIP_HALF: (f32, f32) = (22.0, 13.0);
const CHIP_PAD_ROW: f32 = 17.0;
const CONTROLLER_HALF: f32 = 32.0;
const CONTROLLER_PAD_RING: f32 = 36.0;
/// Pick-and-place tolerance: a component sits up to this far from its
/// place, at the reference size.
const PLACEMENT_TOLERANCE: f32 = 0.75;
/// Small capacitors (centre, at the reference, from the board's centre).
const CAPACITORS: [(f32, f32); 6] =
    [(0.0, -100.0), (0.0, 100.0), (56.0, -104.0), (56.0, 104.0), (170.0, 0.0), (-60.0, 104.0)];

/// Paints the mat, the board and its components (turned by `turn`, the
/// mat not); the chip `missing` is left off its pads.
pub(crate) fn paint(
    canvas: &mut Canvas,
    layout: &Layout,
    details: &mut impl RngCore,
    missing: Option<usize>,
    turn: Option<Turn>,
) {
    let mat_phase = uniform_int(details, 0, 1023) as f32 / 1024.0;
    let tolerance = layout.px(PLACEMENT_TOLERANCE);
    let mut jitter = || (uniform(details, -tolerance, tolerance), uniform(details, -tolerance, tolerance));
    let controller_jitter = jitter();
    let chip_jitter: [(f32, f32); 4] = std::array::from_fn(|_| jitter());
    let finish = uniform(details, -8.0, 8.0);
    let pad = PAD.map(|c| c + finish);

    paint_mat(canvas, layout, mat_phase);
    canvas.set_turn(turn);
    paint_board(canvas, layout);
    paint_traces(canvas, layout);
    for &hole in &layout.holes {
        canvas.disc(hole, layout.px(BOARD_RING_RADIUS), RING);
        canvas.disc(hole, layout.px(5.0), DRILL);
    }
    let c = layout.centre;
    for &(x, y) in &CAPACITORS {
        let at = (c.0 + layout.px(x), c.1 + layout.px(y));
        rectangle(canvas, at, (layout.px(6.0), layout.px(3.5)), pad);
        rectangle(canvas, at, (layout.px(3.0), layout.px(3.5)), CAPACITOR);
    }
    paint_connector(canvas, layout);

    // The controller: pads on four sides, the body, a pin-one mark.
    let controller = (layout.boss.0 + controller_jitter.0, layout.boss.1 + controller_jitter.1);
    for i in 0..12 {
        let along = layout.px(-27.5 + 5.0 * i as f32);
        let ring = layout.px(CONTROLLER_PAD_RING);
        for (dx, dy, half) in [
            (along, -ring, (1.0, 3.0)),
            (along, ring, (1.0, 3.0)),
            (-ring, along, (3.0, 1.0)),
            (ring, along, (3.0, 1.0)),
        ] {
            // Pads are on the board: they stay where the board has them.
            rectangle(canvas, (layout.boss.0 + dx, layout.boss.1 + dy), (layout.px(half.0), layout.px(half.1)), pad);
        }
    }
    outline(canvas, layout.boss, layout.px(CONTROLLER_HALF + 6.0), layout.px(CONTROLLER_HALF + 6.0), layout);
    let body = layout.px(CONTROLLER_HALF);
    rectangle(canvas, controller, (body, body), CHIP_BODY);
    canvas.disc((controller.0 - body + layout.px(7.0), controller.1 - body + layout.px(7.0)), layout.px(3.0), PIN_ONE);

    // The four chips (the parts a board can miss).
    for (i, (&place, &shift)) in layout.screws.iter().zip(&chip_jitter).enumerate() {
        for k in 0..6 {
            let x = place.0 + layout.px(-17.5 + 7.0 * k as f32);
            for side in [-1.0, 1.0] {
                let y = place.1 + side * layout.px(CHIP_PAD_ROW);
                rectangle(canvas, (x, y), (layout.px(1.5), layout.px(3.0)), pad);
            }
        }
        outline(canvas, place, layout.px(CHIP_HALF.0 + 4.0), layout.px(CHIP_PAD_ROW + 6.0), layout);
        // A reference designator: three short silkscreen bars beside the chip.
        for k in 0..3 {
            let at = (place.0 + layout.px(-8.0 + 8.0 * k as f32), place.1 - layout.px(CHIP_PAD_ROW + 12.0));
            rectangle(canvas, at, (layout.px(3.0), layout.px(1.2)), SILKSCREEN);
        }
        if missing == Some(i) {
            continue;
        }
        let at = (place.0 + shift.0, place.1 + shift.1);
        rectangle(canvas, at, (layout.px(CHIP_HALF.0), layout.px(CHIP_HALF.1)), CHIP_BODY);
        canvas.disc(
            (at.0 - layout.px(CHIP_HALF.0 - 5.0), at.1 - layout.px(CHIP_HALF.1 - 5.0)),
            layout.px(2.0),
            PIN_ONE,
        );
    }
}

/// A filled, anti-aliased rectangle.
fn rectangle(canvas: &mut Canvas, centre: (f32, f32), half: (f32, f32), colour: Rgb) {
    let rect = PixelRect::around((centre.0 - half.0, centre.1 - half.1), (centre.0 + half.0, centre.1 + half.1));
    canvas.paint(rect, |x, y, _| {
        coverage(rounded_rect_distance(x - centre.0, y - centre.1, half, 0.0)).map(|a| (colour, a))
    });
}

/// A silkscreen rectangle outline, 1.2 px wide at the reference.
fn outline(canvas: &mut Canvas, centre: (f32, f32), half_x: f32, half_y: f32, layout: &Layout) {
    let width = layout.px(1.2).max(1.0);
    let (l, r, t, b) = (centre.0 - half_x, centre.0 + half_x, centre.1 - half_y, centre.1 + half_y);
    for (from, to) in [((l, t), (r, t)), ((r, t), (r, b)), ((r, b), (l, b)), ((l, b), (l, t))] {
        canvas.line(from, to, width, SILKSCREEN, 1.0);
    }
}

/// The mat: blue-grey with a faint diagonal weave, at a phase that differs
/// from board to board.
fn paint_mat(canvas: &mut Canvas, layout: &Layout, phase: f32) {
    let pitch = layout.px(12.0).max(2.0);
    let all = PixelRect { x0: 0, y0: 0, x1: canvas.width() as i32, y1: canvas.height() as i32 };
    canvas.paint(all, |x, y, _| {
        let along = (x + y) / pitch + phase;
        let wave = 0.0 * ((along - along.floor() - 0.5).abs() * 8.0 - 2.0);
        Some((MAT.map(|c| c + wave), 1.0))
    });
}

/// The board: solder mask, a little lighter towards the right.
fn paint_board(canvas: &mut Canvas, layout: &Layout) {
    let (c, half) = (layout.centre, layout.half);
    let rect = PixelRect::around((c.0 - half.0, c.1 - half.1), (c.0 + half.0, c.1 + half.1));
    canvas.paint(rect, |x, y, _| {
        coverage(rounded_rect_distance(x - c.0, y - c.1, half, layout.corner)).map(|a| {
            let shade = 5.0 * (x - c.0) / half.0;
            (SOLDER_MASK.map(|v| v + shade), a)
        })
    });
}

/// Copper traces under the mask: three from the controller to each chip,
/// out sideways and then up or down to the chip's pad row.
fn paint_traces(canvas: &mut Canvas, layout: &Layout) {
    let c = layout.centre;
    let width = layout.px(3.0).max(1.0);
    for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)] {
        for k in 0..3 {
            let k = k as f32;
            let start = (c.0 + sx * layout.px(40.0), c.1 + sy * layout.px(6.0 + 8.0 * k));
            let bend = (c.0 + sx * layout.px(84.0 + 8.0 * k), start.1);
            let end = (bend.0, c.1 + sy * layout.px(CHIP_AT_Y - CHIP_PAD_ROW - 4.0));
            canvas.line(start, bend, width, TRACE, 1.0);
            canvas.line(bend, end, width, TRACE, 1.0);
        }
    }
}

const CHIP_AT_Y: f32 = 72.0;

/// The edge connector at the left: a beige housing with two rows of pins.
fn paint_connector(canvas: &mut Canvas, layout: &Layout) {
    let c = (layout.centre.0 + layout.px(CONNECTOR_AT.0), layout.centre.1 + layout.px(CONNECTOR_AT.1));
    rectangle(canvas, c, (layout.px(12.0), layout.px(46.0)), CONNECTOR);
    for k in 0..8 {
        let y = c.1 + layout.px(-38.5 + 11.0 * k as f32);
        for x in [-5.0, 5.0] {
            rectangle(canvas, (c.0 + layout.px(x), y), (layout.px(2.0), layout.px(2.0)), PIN);
        }
    }
}
