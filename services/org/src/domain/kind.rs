//! Unit kinds, the management level each belongs to, and the schema of which kind may sit under
//! which: the four-level linkage (district → street/town → residential/village → branches) and
//! Beichai's five-level grid network (town → command centre → villages, residential areas,
//! enterprises, stationed units → service teams, business districts, sites → groups,
//! departments, workshops). A district may extend the schema; it may not shrink it.

use std::collections::BTreeSet;

/// The management level of a unit, derived from its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    City,
    District,
    Street,
    Community,
    Branch,
    Grid,
}

macro_rules! unit_kinds {
    ($($kind:ident => $name:literal, $level:ident;)*) => {
        /// The kind of an organisation unit.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum UnitKind {
            $($kind,)*
        }

        impl UnitKind {
            pub const ALL: &'static [UnitKind] = &[$(UnitKind::$kind,)*];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(UnitKind::$kind => $name,)*
                }
            }

            pub fn level(self) -> Level {
                match self {
                    $(UnitKind::$kind => Level::$level,)*
                }
            }
        }
    };
}

unit_kinds! {
    CityCommittee => "city_committee", City;
    DistrictCommittee => "district_committee", District;
    StreetWorkingCommittee => "street_working_committee", Street;
    TownCommittee => "town_committee", Street;
    ResidentialCommittee => "residential_committee", Community;
    VillageCommittee => "village_committee", Community;
    GeneralBranch => "general_branch", Branch;
    Branch => "branch", Branch;
    PartyGroup => "party_group", Branch;
    BuildingBranch => "building_branch", Branch;
    EnterpriseBranch => "enterprise_branch", Branch;
    SocialOrganisationBranch => "social_organisation_branch", Branch;
    GridCommandCentre => "grid_command_centre", Grid;
    Enterprise => "enterprise", Grid;
    StationedUnit => "stationed_unit", Grid;
    ServiceTeam => "service_team", Grid;
    BusinessDistrict => "business_district", Grid;
    ConstructionSite => "construction_site", Grid;
    VillagerGroup => "villager_group", Grid;
    BuildingGroup => "building_group", Grid;
    Department => "department", Grid;
    Workshop => "workshop", Grid;
    PartyMassServiceCentre => "party_mass_service_centre", Street;
    PartyMassServiceStation => "party_mass_service_station", Community;
}

impl UnitKind {
    pub fn parse(name: &str) -> Option<UnitKind> {
        Self::ALL.iter().copied().find(|kind| kind.as_str() == name)
    }

    /// Kinds that may be the root of a district's tree.
    pub fn can_be_root(self) -> bool {
        matches!(self, Self::DistrictCommittee | Self::CityCommittee)
    }
}

use UnitKind::*;

const BRANCHES: &[UnitKind] = &[
    GeneralBranch,
    Branch,
    BuildingBranch,
    EnterpriseBranch,
    SocialOrganisationBranch,
];
/// Level 4 of the grid network.
const GRID_LEVEL_4: &[UnitKind] = &[ServiceTeam, BusinessDistrict, ConstructionSite];
/// Level 5 of the grid network.
const GRID_LEVEL_5: &[UnitKind] = &[VillagerGroup, BuildingGroup, Department, Workshop];

/// The default schema: for each parent kind, the kinds allowed directly under it.
fn default_children(parent: UnitKind) -> Vec<UnitKind> {
    let mut children: Vec<UnitKind> = match parent {
        CityCommittee => vec![DistrictCommittee],
        DistrictCommittee => [
            &[
                StreetWorkingCommittee,
                TownCommittee,
                PartyMassServiceCentre,
            ][..],
            BRANCHES,
        ]
        .concat(),
        StreetWorkingCommittee => [
            &[
                ResidentialCommittee,
                GridCommandCentre,
                PartyMassServiceCentre,
            ][..],
            BRANCHES,
        ]
        .concat(),
        TownCommittee => [
            &[
                ResidentialCommittee,
                VillageCommittee,
                GridCommandCentre,
                PartyMassServiceCentre,
            ][..],
            BRANCHES,
        ]
        .concat(),
        ResidentialCommittee => [
            BRANCHES,
            GRID_LEVEL_4,
            &[BuildingGroup, PartyMassServiceStation],
        ]
        .concat(),
        VillageCommittee => [
            BRANCHES,
            GRID_LEVEL_4,
            &[VillagerGroup, PartyMassServiceStation],
        ]
        .concat(),
        GeneralBranch => [
            Branch,
            BuildingBranch,
            EnterpriseBranch,
            SocialOrganisationBranch,
        ]
        .to_vec(),
        Branch | BuildingBranch | EnterpriseBranch | SocialOrganisationBranch => vec![PartyGroup],
        GridCommandCentre => vec![
            ResidentialCommittee,
            VillageCommittee,
            Enterprise,
            StationedUnit,
        ],
        Enterprise => [&[EnterpriseBranch, Department, Workshop][..], GRID_LEVEL_4].concat(),
        StationedUnit => [&[GeneralBranch, Branch, Department][..], GRID_LEVEL_4].concat(),
        ServiceTeam | BusinessDistrict | ConstructionSite => GRID_LEVEL_5.to_vec(),
        PartyMassServiceCentre => vec![PartyMassServiceStation],
        PartyGroup
        | VillagerGroup
        | BuildingGroup
        | Department
        | Workshop
        | PartyMassServiceStation => Vec::new(),
    };
    children.sort();
    children
}

/// Which kind may sit under which: the default schema plus the district's extensions.
#[derive(Clone, Debug, Default)]
pub struct KindSchema {
    extensions: BTreeSet<(UnitKind, UnitKind)>,
}

/// One permitted placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindRule {
    pub parent: UnitKind,
    pub child: UnitKind,
    pub district_extension: bool,
}

impl KindSchema {
    pub fn with_extensions(extensions: impl IntoIterator<Item = (UnitKind, UnitKind)>) -> Self {
        Self {
            extensions: extensions.into_iter().collect(),
        }
    }

    pub fn allows(&self, parent: UnitKind, child: UnitKind) -> bool {
        is_default_rule(parent, child) || self.extensions.contains(&(parent, child))
    }

    /// Every rule, defaults first, ordered by parent then child.
    pub fn rules(&self) -> Vec<KindRule> {
        let defaults = UnitKind::ALL.iter().flat_map(|&parent| {
            default_children(parent)
                .into_iter()
                .map(move |child| KindRule {
                    parent,
                    child,
                    district_extension: false,
                })
        });
        let extensions = self
            .extensions
            .iter()
            .filter(|(parent, child)| !is_default_rule(*parent, *child))
            .map(|&(parent, child)| KindRule {
                parent,
                child,
                district_extension: true,
            });
        defaults.chain(extensions).collect()
    }
}

pub fn is_default_rule(parent: UnitKind, child: UnitKind) -> bool {
    default_children(parent).contains(&child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_linked_levels_nest() {
        let schema = KindSchema::default();
        assert!(schema.allows(DistrictCommittee, StreetWorkingCommittee));
        assert!(schema.allows(TownCommittee, VillageCommittee));
        assert!(schema.allows(ResidentialCommittee, Branch));
        assert!(schema.allows(Branch, PartyGroup));
        assert!(!schema.allows(StreetWorkingCommittee, VillageCommittee));
        assert!(!schema.allows(Branch, StreetWorkingCommittee));
        assert!(!schema.allows(PartyGroup, PartyGroup));
    }

    #[test]
    fn the_five_level_grid_network_nests() {
        let schema = KindSchema::default();
        let chain = [
            TownCommittee,
            GridCommandCentre,
            VillageCommittee,
            ServiceTeam,
            VillagerGroup,
        ];
        for pair in chain.windows(2) {
            assert!(
                schema.allows(pair[0], pair[1]),
                "{:?} under {:?}",
                pair[1],
                pair[0]
            );
        }
        assert!(!schema.allows(GridCommandCentre, ServiceTeam));
    }

    #[test]
    fn a_district_extends_the_schema() {
        let schema = KindSchema::with_extensions([(StreetWorkingCommittee, VillageCommittee)]);
        assert!(schema.allows(StreetWorkingCommittee, VillageCommittee));
        let extension = schema
            .rules()
            .into_iter()
            .filter(|r| r.district_extension)
            .collect::<Vec<_>>();
        assert_eq!(extension.len(), 1);
    }

    #[test]
    fn stored_names_round_trip() {
        for &kind in UnitKind::ALL {
            assert_eq!(UnitKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(UnitKind::parse("committee"), None);
    }
}
