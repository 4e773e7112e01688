//! COCO-80 class names, the vocabulary of `class` in every table and in the detections JSONL.

/// The 80 COCO class names in the order detectors number them.
pub const COCO_CLASSES: [&str; 80] = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
];

/// A COCO class, stored as its index so rows stay small and `Ord`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct ObjectClass(pub u8);

impl ObjectClass {
    /// Looks a class up by its COCO name (exact, lower case).
    pub fn from_name(name: &str) -> Option<Self> {
        COCO_CLASSES.iter().position(|c| *c == name).map(|i| ObjectClass(i as u8))
    }
    /// The COCO name.
    pub fn name(self) -> &'static str {
        COCO_CLASSES.get(self.0 as usize).copied().unwrap_or("unknown")
    }
    /// `person`.
    pub const PERSON: ObjectClass = ObjectClass(0);
    /// `bicycle`.
    pub const BICYCLE: ObjectClass = ObjectClass(1);
    /// `car`.
    pub const CAR: ObjectClass = ObjectClass(2);
    /// `motorcycle`.
    pub const MOTORCYCLE: ObjectClass = ObjectClass(3);
    /// `bus`.
    pub const BUS: ObjectClass = ObjectClass(5);
    /// `truck`.
    pub const TRUCK: ObjectClass = ObjectClass(7);

    /// Whether this is a road user (`person bicycle car motorcycle bus truck`). By index, not
    /// name: it is asked for every track point of the junction tables.
    pub fn is_road_user(self) -> bool {
        matches!(self, Self::PERSON | Self::BICYCLE | Self::CAR | Self::MOTORCYCLE | Self::BUS | Self::TRUCK)
    }
    /// Whether this is a vehicle (road users other than `person`).
    pub fn is_vehicle(self) -> bool {
        self.is_road_user() && self != Self::PERSON
    }
}

impl std::fmt::Display for ObjectClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The class constants are the COCO indices of their names.
    #[test]
    fn the_class_constants_name_their_classes() {
        for (c, name) in [(ObjectClass::PERSON, "person"), (ObjectClass::BICYCLE, "bicycle"), (ObjectClass::CAR, "car"), (ObjectClass::MOTORCYCLE, "motorcycle"), (ObjectClass::BUS, "bus"), (ObjectClass::TRUCK, "truck")] {
            assert_eq!(c.name(), name);
        }
        let road: Vec<&str> = (0..80).map(ObjectClass).filter(|c| c.is_road_user()).map(|c| c.name()).collect();
        assert_eq!(road, ["person", "bicycle", "car", "motorcycle", "bus", "truck"]);
    }
}
