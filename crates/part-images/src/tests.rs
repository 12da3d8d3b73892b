//! Rendering contracts: determinism, where defects go, how good parts vary.

use image::RgbImage;

use crate::layout::Layout;
use crate::{product_set, render, sample_set, DefectKind, DefectSpec, PartSpec, Product, TruthBox};

fn png_bytes(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

/// `b` with a pixel more on every side: antialiased edges spill that far.
fn grown_by_a_pixel(b: TruthBox) -> TruthBox {
    TruthBox { x: b.x.saturating_sub(1), y: b.y.saturating_sub(1), width: b.width + 2, height: b.height + 2 }
}

fn grey(image: &RgbImage, x: u32, y: u32) -> f32 {
    let p = image.get_pixel(x, y).0;
    (p[0] as f32 + p[1] as f32 + p[2] as f32) / 3.0
}

/// The same spec renders to the same PNG bytes; another seed does not.
#[test]
fn the_same_seed_gives_byte_identical_pngs() {
    for spec in Product::ALL.into_iter().flat_map(|product| product_set(product, 42, 2, 4, 640, 480)) {
        let a = png_bytes(&render(&spec).unwrap().image);
        let b = png_bytes(&render(&spec).unwrap().image);
        assert_eq!(a, b, "{spec:?}");
        let other = PartSpec { seed: spec.seed + 1, ..spec };
        assert_ne!(a, png_bytes(&render(&other).unwrap().image));
    }
}

/// A checksum of a rendered spec's bytes.
fn checksum(spec: &PartSpec) -> u64 {
    let image = render(spec).unwrap().image;
    image.as_raw().iter().enumerate().fold(0u64, |h, (i, &b)| h.wrapping_mul(31).wrapping_add(b as u64 ^ i as u64))
}

/// Pins the output of one spec of each product, so that a change in the
/// arithmetic (or a platform that computes differently) shows up as a
/// failed test.
#[test]
fn a_known_spec_renders_the_known_checksum() {
    let plate = PartSpec::defective(2026, 320, 240, DefectKind::Dent);
    assert_eq!(checksum(&plate), KNOWN_CHECKSUM, "plate rendering changed: update it only if that was intended");
    let board = PartSpec::defective(2026, 320, 240, DefectKind::MissingPart).of(Product::Board);
    assert_eq!(checksum(&board), KNOWN_BOARD_CHECKSUM, "board rendering changed: update it only if that was intended");
}
const KNOWN_CHECKSUM: u64 = 3_256_458_859_352_558_306;
const KNOWN_BOARD_CHECKSUM: u64 = 11_779_432_344_977_364_580;

/// A board and a plate of the same seed are different pictures: another
/// background, another part.
#[test]
fn the_board_is_another_product() {
    let plate = render(&PartSpec::good(8, 640, 480)).unwrap().image;
    let board = render(&PartSpec::good(8, 640, 480).of(Product::Board)).unwrap().image;
    let (c, corner) = ((340, 240), (5, 5));
    // Beside the middle: the board's black controller, the plate's light boss.
    assert!(grey(&board, c.0, c.1) < 60.0 && grey(&plate, c.0, c.1) > 120.0);
    // The mat is lighter than the plate's belt, and bluer.
    let mat = board.get_pixel(corner.0, corner.1).0;
    assert!(grey(&board, corner.0, corner.1) > grey(&plate, corner.0, corner.1) + 10.0 && mat[2] > mat[0] + 15);
    // A board's solder mask is green.
    let mask = board.get_pixel(250, 170).0;
    assert!(mask[1] > mask[0] + 40 && mask[1] > mask[2] + 30, "{mask:?}");
}

/// A board's missing part is a chip: its dark body is gone from the box,
/// its pads are bare.
#[test]
fn a_board_missing_a_chip_shows_its_pads() {
    for spec in product_set(Product::Board, 13, 0, 12, 640, 480).into_iter().filter(|s| s.label() == "missing_part") {
        let rendered = render(&spec).unwrap();
        let (_, b) = rendered.defect.unwrap();
        let clean = render(&PartSpec { defect: None, ..spec }).unwrap().image;
        let dark = |image: &RgbImage| {
            (b.y..b.y + b.height)
                .flat_map(|y| (b.x..b.x + b.width).map(move |x| (x, y)))
                .filter(|&(x, y)| grey(image, x, y) < 50.0)
                .count()
        };
        assert!(dark(&clean) > 500, "a chip's body in {b:?}");
        assert!(dark(&rendered.image) < dark(&clean) / 10, "the chip is gone from {b:?}");
    }
}

/// Every kind changes pixels only in and around its box, changes them
/// visibly inside it, and its box lies on the plate.
#[test]
fn every_defect_changes_pixels_inside_its_box_which_lies_on_the_plate() {
    for size in [(640, 480), (320, 240)] {
        let specs = Product::ALL.into_iter().flat_map(|product| product_set(product, 5, 0, 40, size.0, size.1));
        for spec in specs {
            let rendered = render(&spec).unwrap();
            let (kind, bbox) = rendered.defect.unwrap();
            let clean = render(&PartSpec { defect: None, ..spec }).unwrap().image;
            let grown = grown_by_a_pixel(bbox);
            let (mut inside, mut strong, mut outside) = (0, 0, 0);
            for (x, y, p) in rendered.image.enumerate_pixels() {
                let q = clean.get_pixel(x, y);
                let diff = (0..3).map(|c| (p[c] as i32 - q[c] as i32).abs()).max().unwrap_or(0);
                if diff == 0 {
                    continue;
                }
                if grown.contains(x, y) {
                    inside += 1;
                    strong += usize::from(diff >= 20);
                } else {
                    outside += 1;
                }
            }
            assert_eq!(outside, 0, "{kind} changed pixels outside {bbox:?}");
            let area = (bbox.width * bbox.height) as usize;
            assert!(strong * 10 >= area.min(200), "{kind} barely visible: {strong} strong pixels in {bbox:?}");
            assert!(inside > 0);
            // The board lies up to half a pixel off its whole-pixel offset.
            let layout = Layout::of(spec.product, spec.width, spec.height, spec.offset, (0.0, 0.0));
            for (x, y) in [
                (bbox.x, bbox.y),
                (bbox.x + bbox.width, bbox.y),
                (bbox.x, bbox.y + bbox.height),
                (bbox.x + bbox.width, bbox.y + bbox.height),
            ] {
                assert!(layout.on_plate((x as f32, y as f32), -0.5), "{kind} box {bbox:?} leaves the plate");
            }
            let max_side = 130.0 * layout.scale + 6.0;
            assert!((bbox.width as f32) < max_side && (bbox.height as f32) < max_side, "{kind} box {bbox:?} is huge");
        }
    }
}

/// A scratch is 40 to 120 px long at 640x480.
#[test]
fn scratches_have_the_specified_length() {
    for spec in sample_set(9, 0, 80, 640, 480).into_iter().filter(|s| s.label() == "scratch") {
        let (_, b) = render(&spec).unwrap().defect.unwrap();
        let diagonal = ((b.width * b.width + b.height * b.height) as f32).sqrt();
        assert!((38.0..=126.0).contains(&diagonal), "{b:?}");
    }
}

/// An explicit position puts the defect there; for a missing part, the
/// nearest screw goes.
#[test]
fn an_explicit_position_places_the_defect() {
    let base = PartSpec::good(3, 640, 480);
    let at = |kind, position| {
        let spec = PartSpec { defect: Some(DefectSpec { kind, position: Some(position) }), ..base };
        render(&spec).unwrap().defect.unwrap().1
    };
    let left = at(DefectKind::MissingPart, (0.0, 0.0));
    let right = at(DefectKind::MissingPart, (1.0, 1.0));
    assert!(left.x < 320 && left.y < 240 && right.x > 320 && right.y > 240, "{left:?} {right:?}");
    let blob = at(DefectKind::Contamination, (0.5, 0.2));
    assert!(blob.y + blob.height < 240, "{blob:?}");
}

/// Good parts differ from one another (lighting, offset, noise), but the
/// plate stays in the frame and its brightness within ±10 % plus noise.
#[test]
fn good_variants_differ_from_each_other_but_stay_within_bounds() {
    let specs = sample_set(17, 12, 0, 640, 480);
    let images: Vec<RgbImage> = specs.iter().map(|s| render(s).unwrap().image).collect();
    for i in 1..images.len() {
        assert_ne!(images[0].as_raw(), images[i].as_raw());
    }
    let nominal = render(&PartSpec { lighting: 1.0, offset: (0, 0), noise: 0.0, ..specs[0] }).unwrap().image;
    // A patch of bare plate between the boss and a screw.
    let plate_level = |image: &RgbImage, dx: i32, dy: i32| {
        let mut sum = 0.0;
        for y in 0..8 {
            for x in 0..8 {
                sum += grey(image, (380 + dx + x) as u32, (236 + dy + y) as u32);
            }
        }
        sum / 64.0
    };
    let reference = plate_level(&nominal, 0, 0);
    for (spec, image) in specs.iter().zip(&images) {
        let level = plate_level(image, spec.offset.0, spec.offset.1);
        let ratio = level / reference;
        assert!((ratio - spec.lighting).abs() < 0.02, "{spec:?}: {level} vs {reference}");
        assert!((0.88..=1.12).contains(&ratio));
        // The conveyor shows in every corner.
        for (x, y) in [(2, 2), (637, 2), (2, 477), (637, 477)] {
            assert!(grey(image, x, y) < 90.0);
        }
    }
}

/// Sizes and values out of range are errors, not panics.
#[test]
fn out_of_range_specs_are_rejected() {
    let good = PartSpec::good(1, 640, 480);
    assert!(render(&PartSpec { width: 100, ..good }).is_err());
    assert!(render(&PartSpec { lighting: 3.0, ..good }).is_err());
    assert!(render(&PartSpec { noise: -1.0, ..good }).is_err());
    assert!(render(&PartSpec { offset: (200, 0), ..good }).is_err());
    let far = Some(DefectSpec { kind: DefectKind::Dent, position: Some((1.5, 0.0)) });
    assert!(render(&PartSpec { defect: far, ..good }).is_err());
}

/// `write_set` writes the images and a `truth.json` that names them.
#[test]
fn write_set_writes_images_and_truth() {
    let dir = std::env::temp_dir().join(format!("part-images-test-{}", std::process::id()));
    let specs = sample_set(1, 1, 2, 160, 120);
    let truth = crate::output::write_set(&dir, &specs, crate::output::ImageFormat::Png).unwrap();
    let names: Vec<&str> = truth.iter().map(|t| t.file.as_str()).collect();
    assert_eq!(names, ["good-0000.png", "scratch-0001.png", "dent-0002.png"]);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap();
    assert_eq!(json[0]["box"], serde_json::Value::Null);
    assert_eq!(json[1]["kind"], "scratch");
    assert!(json[1]["box"]["width"].as_u64().unwrap() > 0);
    let decoded = image::open(dir.join("dent-0002.png")).unwrap().to_rgb8();
    assert_eq!(decoded.as_raw(), render(&specs[2]).unwrap().image.as_raw());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A part turned on the belt: the belt stays as it was, the part turns,
/// and each defect's box still holds every pixel the defect changed.
#[test]
fn a_part_turned_on_the_belt_turns_alone_and_keeps_its_defect_in_its_box() {
    for product in Product::ALL {
        for (n, spec) in product_set(product, 31, 0, 8, 640, 480).into_iter().enumerate() {
            let turn_deg = if n % 2 == 0 { 7.5 } else { -9.0 };
            let turned = PartSpec { turn_deg, ..spec };
            let rendered = render(&turned).unwrap();
            let upright = render(&spec).unwrap().image;
            // A corner of the belt, far from any part: the same pixels.
            for (x, y) in [(2, 2), (637, 477), (2, 477)] {
                assert_eq!(rendered.image.get_pixel(x, y), upright.get_pixel(x, y), "{product:?}: the belt moved");
            }
            // The middle of the part turns about itself; its edge does not stay.
            let b = rendered.defect.unwrap().1;
            let clean = render(&PartSpec { defect: None, ..turned }).unwrap().image;
            let grown = grown_by_a_pixel(b);
            let outside = rendered
                .image
                .enumerate_pixels()
                .filter(|(x, y, p)| *p != clean.get_pixel(*x, *y) && !grown.contains(*x, *y))
                .count();
            assert_eq!(outside, 0, "{product:?} {}: pixels changed outside {b:?}", spec.label());
            assert_ne!(rendered.image, render(&PartSpec { turn_deg: 0.0, ..turned }).unwrap().image);
        }
    }
    assert!(render(&PartSpec { turn_deg: 25.0, ..PartSpec::good(1, 640, 480) }).is_err());
}
