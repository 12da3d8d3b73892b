//! The words the vision-language model gets with each flagged frame.

use shopfloor_core::schema::Region;

use crate::verdict::{DEFECT_TYPES, LOCATIONS};

/// The system turn: the task and the answer's form.
pub fn system_prompt() -> String {
    format!(
        "You inspect manufactured parts at an industrial station from camera images. Answer only with JSON: \
         {{\"defect\": true or false, \"type\": one of {types}, \"location\": one of {locations}, \
         \"severity\": \"info\", \"warning\" or \"critical\", \"description\": a short sentence}}.",
        types = DEFECT_TYPES.join(", "),
        locations = LOCATIONS.join(", "),
    )
}

/// The user turn after the image: what the filter found, in words.
pub fn instruction(regions: &[Region], width: u32, height: u32, cropped: bool) -> String {
    let view = if cropped {
        "The image is the area the anomaly filter flagged, with some context."
    } else {
        "The image is the whole frame."
    };
    match regions.first() {
        Some(region) => format!(
            "{view} The filter found the strongest anomaly at the {} of the frame. Is the part defective?",
            grid_location(region, width, height)
        ),
        None => format!("{view} Is the part defective?"),
    }
}

/// Where a region's centre lies on a 3x3 grid of the frame.
pub fn grid_location(region: &Region, width: u32, height: u32) -> &'static str {
    let third = |centre: u64, side: u32| (centre * 3 / u64::from(side.max(1))).min(2) as usize;
    let column = third(u64::from(region.x) + u64::from(region.width) / 2, width);
    let row = third(u64::from(region.y) + u64::from(region.height) / 2, height);
    LOCATIONS[row * 3 + column]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(x: u32, y: u32) -> Region {
        Region { x, y, width: 10, height: 10, score: 1.0 }
    }

    #[test]
    fn regions_are_placed_on_a_three_by_three_grid() {
        assert_eq!(grid_location(&region(0, 0), 640, 480), "top-left");
        assert_eq!(grid_location(&region(315, 235), 640, 480), "center");
        assert_eq!(grid_location(&region(630, 470), 640, 480), "bottom-right");
        assert_eq!(grid_location(&region(630, 0), 640, 480), "top-right");
    }

    #[test]
    fn the_instruction_says_where_the_filter_looked() {
        let text = instruction(&[region(0, 0)], 640, 480, true);
        assert!(text.contains("top-left") && text.contains("flagged"), "{text}");
        assert!(system_prompt().contains("missing_part"));
    }
}
