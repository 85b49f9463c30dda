//! Shanghai's districts (GB/T 2260 codes) and Pudong's streets and towns, shipped with the binary.

const DISTRICTS_CSV: &str = include_str!("../data/shanghai-districts.csv");
const PUDONG_CSV: &str = include_str!("../data/pudong-streets-towns.csv");

/// A district this platform can be deployed for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct District {
    /// GB/T 2260 code, e.g. "310115".
    pub code: String,
    /// Chinese name, e.g. "浦东新区".
    pub name: String,
}

impl District {
    /// Looks up a Shanghai district by its code.
    pub fn lookup(code: &str) -> Result<Self, String> {
        rows(DISTRICTS_CSV)
            .find(|fields| fields.first() == Some(&code))
            .and_then(|fields| {
                Some(Self {
                    code: code.to_owned(),
                    name: (*fields.get(1)?).to_owned(),
                })
            })
            .ok_or_else(|| {
                format!(
                    "unknown district code {code:?}; Shanghai's codes run from 310101 to 310151"
                )
            })
    }

    /// The name of the district party committee, the root of the tree.
    pub fn committee_name(&self) -> String {
        format!("中共上海市{}委员会", self.name)
    }
}

/// A street (街道) or town (镇) of Pudong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreetOrTown {
    pub is_town: bool,
    pub name: String,
}

/// Pudong's 12 streets and 24 towns.
pub fn pudong_streets_and_towns() -> Vec<StreetOrTown> {
    rows(PUDONG_CSV)
        .filter_map(|fields| {
            Some(StreetOrTown {
                is_town: *fields.first()? == "town",
                name: (*fields.get(1)?).to_owned(),
            })
        })
        .collect()
}

/// The data rows of a simple CSV (no quoted commas), header skipped.
fn rows(csv: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    csv.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split(',').collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn districts_are_found_by_code() {
        assert_eq!(District::lookup("310115").expect("pudong").name, "浦东新区");
        assert!(District::lookup("110101").is_err());
    }

    #[test]
    fn pudong_has_12_streets_and_24_towns() {
        let all = pudong_streets_and_towns();
        assert_eq!(all.iter().filter(|s| !s.is_town).count(), 12);
        assert_eq!(all.iter().filter(|s| s.is_town).count(), 24);
    }
}
