//! Points and polygons of the config (image pixels or ground metres), shared by cameras and
//! junctions.

/// A point in pixels (image) or metres (ground), `[x, y]`.
pub type Point = [f64; 2];

/// The schema of a [`Point`] (an alias, which cannot implement a trait): two numbers.
#[derive(Debug)]
pub struct PointSchema;

impl utoipa::PartialSchema for PointSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let number = ObjectBuilder::new().schema_type(Type::Number).format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Double)));
        ArrayBuilder::new().items(number).min_items(Some(2)).max_items(Some(2)).description(Some("`[x, y]`: pixels in the image, metres on the ground")).into()
    }
}

impl utoipa::ToSchema for PointSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "Point".into()
    }
}

/// Checks that a polygon is simple with a non-zero area.
pub fn check_polygon(p: &[Point]) -> Result<(), String> {
    if p.len() < 3 {
        return Err(format!("a polygon needs at least 3 points, got {}", p.len()));
    }
    if p.iter().flatten().any(|v| !v.is_finite()) {
        return Err("points must be finite numbers".into());
    }
    let n = p.len();
    for i in 0..n {
        for j in i + 1..n {
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            if adjacent {
                continue;
            }
            if itscam_geo::segments_intersect(p[i], p[(i + 1) % n], p[j], p[(j + 1) % n]) {
                return Err(format!("edges {i} and {j} cross: the polygon must not intersect itself"));
            }
        }
    }
    let area2: f64 = (0..n).map(|i| {
        let (a, b) = (p[i], p[(i + 1) % n]);
        a[0] * b[1] - b[0] * a[1]
    }).sum();
    if area2.abs() < 1e-9 {
        return Err("the polygon has zero area".into());
    }
    Ok(())
}
