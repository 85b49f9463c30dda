//! The grid service's values: grids and their staff, categories, the case workflow and the
//! working calendar its time limits count in. Everything here validates on construction.

pub mod calendar;
pub mod case;
pub mod category;
pub mod project;
pub mod wish;

/// One of the three overlapping grid layers (三个网格).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    CityManagement,
    SocialManagement,
    PartyBuilding,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CityManagement => "city_management",
            Self::SocialManagement => "social_management",
            Self::PartyBuilding => "party_building",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::CityManagement,
            Self::SocialManagement,
            Self::PartyBuilding,
        ]
        .into_iter()
        .find(|l| l.as_str() == text)
    }
}

/// What someone stationed in a grid does there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaffRole {
    /// The grid's leader 网格长.
    Leader,
    /// A grid worker 网格员: reports and follows up cases.
    Worker,
    /// A party representative stationed in the grid 党代表入驻网格.
    PartyRepresentative,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Leader => "leader",
            Self::Worker => "worker",
            Self::PartyRepresentative => "party_representative",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Leader, Self::Worker, Self::PartyRepresentative]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// A grid code: 1 to 32 characters of A-Z, 0-9 and '-', e.g. `PD-LJZ-012`.
pub fn grid_code(text: &str) -> Result<String, &'static str> {
    let code = text.trim().to_ascii_uppercase();
    let valid = !code.is_empty()
        && code.len() <= 32
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(code)
    } else {
        Err("must be 1 to 32 characters of A-Z, 0-9 and '-'")
    }
}

/// A point on the map (WGS-84 degrees).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub latitude: f64,
    pub longitude: f64,
}

impl Point {
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, &'static str> {
        if latitude.is_finite()
            && longitude.is_finite()
            && (-90.0..=90.0).contains(&latitude)
            && (-180.0..=180.0).contains(&longitude)
        {
            Ok(Self {
                latitude,
                longitude,
            })
        } else {
            Err("must be a latitude in [-90, 90] and a longitude in [-180, 180]")
        }
    }

    /// Great-circle distance in metres.
    pub fn distance_to(&self, other: &Point) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let d_lat = lat2 - lat1;
        let d_lng = (other.longitude - self.longitude).to_radians();
        let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lng / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().asin()
    }
}

/// A grid's outline: a closed ring of at least three points.
pub fn polygon(points: Vec<Point>) -> Result<Vec<Point>, &'static str> {
    if points.len() < 3 || points.len() > 10_000 {
        Err("must have 3 to 10,000 points")
    } else {
        Ok(points)
    }
}

/// A grid of one layer, under the org that runs it, with its outline (empty when none is drawn).
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub id: String,
    pub code: String,
    pub name: String,
    pub layer: Layer,
    pub org_id: String,
    pub org_path: String,
    pub polygon: Vec<Point>,
    pub created_at: i64,
}

/// Someone stationed in a grid, and as what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    pub grid_id: String,
    pub subject: String,
    pub name: String,
    pub role: StaffRole,
    pub since: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_points_validate() {
        assert_eq!(grid_code(" pd-ljz-012 ").as_deref(), Ok("PD-LJZ-012"));
        assert!(grid_code("PD LJZ").is_err());
        assert!(Point::new(91.0, 0.0).is_err());
        // Lujiazui to People's Square is about 2.6 km across the river.
        let lujiazui = Point::new(31.2397, 121.4998).expect("point");
        let square = Point::new(31.2304, 121.4737).expect("point");
        let metres = lujiazui.distance_to(&square);
        assert!((2_500.0..2_800.0).contains(&metres), "{metres}");
    }
}
